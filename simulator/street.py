"""The street's hardware, vectorised: sensor nodes that count road users, lamp nodes that obey
leases. Both with the faults a real street has.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge.control import CountsBatch, SiteSpec
from edge.control._energy import DriverCurve

__all__ = ["LampNodes", "SensorBank"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass
class _SensorFaults:
    dead: FloatArray
    stuck: FloatArray
    noisy: FloatArray
    noisy_rate: FloatArray
    late: FloatArray
    late_delay: FloatArray


@dataclass
class SensorBank:
    """Every sensor node: counts road users crossing its position, reports at once when it
    saw someone and every ``report_s`` otherwise (liveness), per PROTOCOL.md."""

    site: SiteSpec
    rng: np.random.Generator
    report_s: float = 10.0
    ids: tuple[str, ...] = ()
    faults: _SensorFaults = field(init=False)

    def __post_init__(self) -> None:
        sensors = self.site.sensors
        n = len(sensors)
        self.ids = tuple(s.id for s in sensors)
        lengths = np.array([c.length_m for c in self.site.clusters])
        self._offset = np.concatenate(([0.0], np.cumsum(lengths + 1e5)[:-1]))
        keys = np.array([self._offset[s.cluster] + s.position_m for s in sensors])
        self._order = np.argsort(keys, kind="stable")
        self._keys = keys[self._order]
        self.cluster = np.array([s.cluster for s in sensors], dtype=np.intp)
        self.pending = np.zeros((n, 2, 3), dtype=np.int64)  # [sensor, forward/backward, kind]
        self.speed_sum = np.zeros(n)
        self.speed_n = np.zeros(n)
        self.pending_users: list[list[int]] = [[] for _ in range(n)]
        self.last_report = np.full(n, -np.inf)
        inf = np.full(n, np.inf)
        self.faults = _SensorFaults(
            inf.copy(), inf.copy(), inf.copy(), np.zeros(n), inf.copy(), np.zeros(n)
        )
        self._late: deque[tuple[float, int, np.ndarray, float, list[int]]] = deque()
        self.reports = 0
        self._seen: set[int] = set()  # sensors with something pending
        self._next_due = -np.inf  # earliest liveness report due

    @property
    def _any_noisy(self) -> bool:
        return bool(np.isfinite(self.faults.noisy).any())

    def index(self, sensor_id: str) -> int:
        return self.ids.index(sensor_id)

    def detect(
        self, prev: FloatArray, new: FloatArray, cluster: IntArray, direction: IntArray,
        kind: IntArray, speed: FloatArray, user: IntArray,
    ) -> None:  # fmt: skip
        """Count every road user whose move this tick crossed a sensor's position."""
        if not len(prev) or not len(self._keys):
            return
        off = self._offset[cluster]
        a, b = off + prev, off + new
        fwd = direction > 0
        lo = np.where(
            fwd, np.searchsorted(self._keys, a, "right"), np.searchsorted(self._keys, b, "left")
        )
        hi = np.where(
            fwd, np.searchsorted(self._keys, b, "right"), np.searchsorted(self._keys, a, "left")
        )
        for u in np.flatnonzero(hi > lo).tolist():
            for pos in range(int(lo[u]), int(hi[u])):
                s = int(self._order[pos])
                self.pending[s, 0 if fwd[u] else 1, kind[u]] += 1
                self.speed_sum[s] += speed[u]
                self.speed_n[s] += 1
                self.pending_users[s].append(int(user[u]))
                self._seen.add(s)

    def collect(
        self, now: float, dt: float
    ) -> tuple[CountsBatch | None, list[tuple[list[int], float]]]:
        """The reports delivered at ``now``, and (road users, delivery time) per report."""
        f = self.faults
        if self._any_noisy:
            noisy = np.flatnonzero(now >= f.noisy)
            if len(noisy):
                phantoms = self.rng.poisson(f.noisy_rate[noisy] / 3600.0 * dt)
                self.pending[noisy, 0, 0] += phantoms
                self._seen.update(noisy[phantoms > 0].tolist())
        if now >= self._next_due:
            due = set(np.flatnonzero(now - self.last_report >= self.report_s).tolist())
        else:
            due = set()
        due |= self._seen
        self._seen = set()
        rows = [s for s in sorted(due) if now < f.dead[s]]
        out_rows: list[tuple[int, np.ndarray, float, list[int]]] = []
        for s in rows:
            counts = self.pending[s].copy()
            users = self.pending_users[s]
            speed = self.speed_sum[s] / self.speed_n[s] if self.speed_n[s] else 0.0
            if now >= f.stuck[s]:
                counts[:] = 0  # stuck at zero: alive, but blind
                users = []
            self.pending[s] = 0
            self.speed_sum[s] = self.speed_n[s] = 0.0
            self.pending_users[s] = []
            self.last_report[s] = now
            if now >= f.late[s]:
                self._late.append((now + f.late_delay[s], s, counts, speed, users))
            else:
                out_rows.append((s, counts, speed, users))
        if rows:
            self._next_due = float(self.last_report.min()) + self.report_s
        while self._late and self._late[0][0] <= now:
            _, s, counts, speed, users = self._late.popleft()
            out_rows.append((s, counts, speed, users))
        if not out_rows:
            return None, []
        self.reports += len(out_rows)
        batch = CountsBatch(
            sensors=tuple(self.ids[s] for s, _, _, _ in out_rows),
            interval_s=np.full(len(out_rows), max(dt, 1e-3)),
            forward=np.array([c[0] for _, c, _, _ in out_rows], dtype=np.int64),
            backward=np.array([c[1] for _, c, _, _ in out_rows], dtype=np.int64),
            mean_speed_mps=np.array([v for _, _, v, _ in out_rows]),
        )
        return batch, [(users, now) for _, _, _, users in out_rows]


class LampNodes:
    """Every lamp node: holds its lease, fades as a driver does, falls back to its failsafe
    level when the lease lapses; power from the driver curve; lamp failure and day burning."""

    def __init__(
        self, *, nominal_w: FloatArray, curve: DriverCurve, failsafe_level: float = 1.0,
        fade_per_s: float = 2.0,
    ) -> None:  # fmt: skip
        n = len(nominal_w)
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
        self._power_sum = float(self.power_w.sum())
        self._faults_from = np.inf  # earliest lamp fault: none
        self.energy_wh = 0.0
        self.failsafe_lamp_s = 0.0

    def apply(self, now: float, lamps: IntArray, levels: FloatArray, lease_s: float) -> None:
        self.lease_level[lamps] = levels
        self.lease_until[lamps] = now + lease_s

    def tick(self, now: float, dt: float) -> None:
        holding = now < self.lease_until
        np.copyto(self.commanded, self.lease_level)
        lapsed = np.flatnonzero(~holding)
        if len(lapsed):
            self.commanded[lapsed] = self.failsafe_level
            self.failsafe_lamp_s += len(lapsed) * dt
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
        self.energy_wh += self._power_sum * dt / 3600.0  # at the power held
        if not np.array_equal(before, self.output):
            self.power_w = self.curve.power_w(self.output, self.nominal_w)
            if self._faults_from <= now:
                self.power_w[now >= self.failed_from] = 0.0
            self._power_sum = float(self.power_w.sum())

    def set_failure(self, lamp: int, at: float) -> None:
        self.failed_from[lamp] = at
        self._faults_from = min(self._faults_from, at)

    def set_day_burner(self, lamp: int, at: float) -> None:
        self.burning_from[lamp] = at
        self._faults_from = min(self._faults_from, at)
