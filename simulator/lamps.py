"""The street's lamp nodes, vectorised: they hold their leases, fade as drivers do and fall
back to their failsafe level when a lease lapses, with lamp failures and day burners."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.control import DriverCurve

__all__ = ["LampNodes"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


class LampNodes:
    """Every lamp node: holds its lease, fades as a driver does, falls back to its failsafe
    level when the lease lapses; power from the driver curve; lamp failure and day burning.
    Energy and lamp-seconds without a lease are kept per replica of the street (``replicas``
    side by side, as many lamps each)."""

    def __init__(
        self, *, nominal_w: FloatArray, curve: DriverCurve, failsafe_level: float = 1.0,
        fade_per_s: float = 2.0, replicas: int = 1,
    ) -> None:  # fmt: skip
        n = len(nominal_w)
        self._replicas = replicas
        self.nominal_w = nominal_w
        self.curve = curve
        self.failsafe_level = failsafe_level
        self.fade_per_s = fade_per_s
        self.lease_level = np.ones(n)
        self.lease_until = np.full(n, -np.inf)
        self.output = np.ones(n)  # power-on: full until a lease arrives
        self.commanded = np.ones(n)
        self.failed_from = np.full(n, np.inf)
        self.burning_from = np.full(n, np.inf)
        self.power_w = curve.power_w(self.output, nominal_w)
        self._power_sum = self._per_replica(self.power_w)
        self._faults_from = np.inf  # earliest lamp fault: none
        self._fault_times: list[float] = []
        # after a tick that changed no output, the nodes hold still until a lease lapses, a
        # fault starts or a lease changes what they are told: those ticks only add energy
        self._still = False
        self._still_until = -np.inf
        self._lapsed = np.zeros(replicas)  # lamps without a lease, per replica
        self.replica_energy_wh = np.zeros(replicas)
        self.replica_failsafe_s = np.zeros(replicas)  # lamp-seconds without a lease

    @property
    def energy_wh(self) -> float:
        return float(self.replica_energy_wh.sum())

    @property
    def failsafe_lamp_s(self) -> float:
        return float(self.replica_failsafe_s.sum())

    def _per_replica(self, values: FloatArray) -> FloatArray:
        """Each replica's sum (row sums: the same arithmetic for a replica alone)."""
        out: FloatArray = values.reshape(self._replicas, -1).sum(axis=1)
        return out

    def apply(self, now: float, lamps: IntArray, levels: FloatArray, lease_s: float) -> None:
        if self._still:
            old = self.lease_until[lamps]
            # a lease renewed at the level it had (the common case) changes nothing
            renewed = np.array_equal(levels, self.lease_level[lamps]) and bool(
                ((old > now) & (now + lease_s >= old)).all()
            )
            self._still = renewed
        self.lease_level[lamps] = levels
        self.lease_until[lamps] = now + lease_s

    def tick(self, now: float, dt: float) -> None:
        if self._still and now < self._still_until:
            self.replica_failsafe_s += self._lapsed * dt
            self.replica_energy_wh += self._power_sum * dt / 3600.0
            return
        holding = now < self.lease_until
        np.copyto(self.commanded, self.lease_level)
        lapsed = (~holding).nonzero()[0]
        self._lapsed = self._per_replica((~holding).astype(np.float64))
        if len(lapsed):
            self.commanded[lapsed] = self.failsafe_level
            self.replica_failsafe_s += self._lapsed * dt
        if self._faults_from <= now:
            self.commanded[now >= self.burning_from] = 1.0
        step = self.fade_per_s * dt
        before = self.output.copy()
        delta = self.commanded - self.output
        np.minimum(delta, step, out=delta)
        np.maximum(delta, -step, out=delta)
        self.output += delta
        if self._faults_from <= now:
            self.output[now >= self.failed_from] = 0.0
        self.replica_energy_wh += self._power_sum * dt / 3600.0  # at the power held
        if not np.array_equal(before, self.output):
            self.power_w = self.curve.power_w(self.output, self.nominal_w)
            if self._faults_from <= now:
                self.power_w[now >= self.failed_from] = 0.0
            self._power_sum = self._per_replica(self.power_w)
            self._still = False
        else:  # a fixed point: the same inputs give the same outputs
            lapse = float(self.lease_until[holding].min()) if len(lapsed) < len(holding) else np.inf
            fault = min((t for t in self._fault_times if t > now), default=np.inf)
            self._still, self._still_until = True, min(lapse, fault)

    def set_failure(self, lamp: int, at: float) -> None:
        self.failed_from[lamp] = at
        self._faults_from = min(self._faults_from, at)
        self._fault_times.append(at)
        self._still = False

    def set_day_burner(self, lamp: int, at: float) -> None:
        self.burning_from[lamp] = at
        self._faults_from = min(self._faults_from, at)
        self._fault_times.append(at)
        self._still = False
