"""Power from level (the driver curve), the fixed-schedule baseline's level, and the ledger:
modelled energy from the commanded levels, and the lamps' own meters where they report one."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.control._spec import EnergyParams, LampTable

__all__ = ["REFERENCE_SCHEDULE", "DriverCurve", "EnergyLedger", "schedule_level", "schedule_levels"]

FloatArray = npt.NDArray[np.float64]

_RESYNC_STEPS = 600
# Columns of the ledger's per-lamp rows.
_POWER, _WH0, _NOMINAL, _CLUSTER = range(4)
_COLUMNS = 4


#: The built-in reference baseline, a common Dutch fixed schedule: 100 % until 20:00, 70 %
#: until 22:00, 50 % until 05:00, then 70 % (minute of the local day, level; cyclic).
REFERENCE_SCHEDULE: tuple[tuple[int, float], ...] = (
    (300, 0.7),
    (720, 1.0),
    (1200, 0.7),
    (1320, 0.5),
)

#: A meter reading that rose by more than this times the lamp's nominal power over the time
#: since its last reading (plus METER_SLACK_WH) is refused as implausible.
METER_HEADROOM = 1.5
METER_SLACK_WH = 1.0
#: When the time since the last reading is unknown (the clock went back past it, or the
#: reading was saved before a restart), a reading may cover at most this long at
#: METER_HEADROOM x nominal power.
METER_UNKNOWN_S = 86_400.0

#: Levels are resolved to 1/4096 for power: finer than any driver (DALI has 254 steps),
#: and it makes power a table look-up (two gathers from a table that sits in cache).
CURVE_STEPS = 4096


class DriverCurve:
    """Fraction of nominal power drawn at a dimming level; a level that rounds to 0 is off
    (standby). Linear between the curve's points; levels resolved to 1/CURVE_STEPS."""

    def __init__(self, params: EnergyParams) -> None:
        self._x = np.asarray(params.curve_levels, dtype=np.float64)
        self._y = np.asarray(params.curve_power, dtype=np.float64)
        self.standby_w = float(params.standby_w)
        grid = np.arange(CURVE_STEPS + 1) / CURVE_STEPS
        self._per_nominal = np.interp(grid, self._x, self._y)
        self._per_nominal[0] = 0.0
        self._fractions: dict[float, float] = {}

    def fraction(self, level: float) -> float:
        cached = self._fractions.get(level)
        if cached is None:
            cached = self._fractions[level] = float(self.fractions(np.array([level]))[0])
        return cached

    def fractions(self, levels: FloatArray) -> FloatArray:
        """Fraction of nominal power at each of ``levels`` (unrounded, for the baselines)."""
        out: FloatArray = np.interp(levels, self._x, self._y)
        return out

    def power_w(
        self,
        levels: npt.NDArray[np.float64],
        nominal_w: npt.NDArray[np.floating[Any]],
        out: npt.NDArray[np.float64] | None = None,
        unit: bool = False,
    ) -> npt.NDArray[np.float64]:
        """Watts for each (level, nominal) pair; standby where the level rounds to 0.
        ``unit``: the caller knows every level is within [0, 1] (no clamping needed)."""
        q = np.multiply(levels, CURVE_STEPS)
        q += 0.5
        if not unit:
            np.maximum(q, 0, out=q)  # ufuncs: np.clip's wrapper costs more than the work here
            np.minimum(q, CURVE_STEPS, out=q)
        idx = q.astype(np.intp)
        watts = np.take(self._per_nominal, idx, out=out)
        watts *= nominal_w
        if len(idx) and idx.min() == 0:  # off: the driver's standby draw (rare at night)
            watts[idx == 0] = self.standby_w
        return watts


@functools.lru_cache(maxsize=64)
def _sorted_schedule(
    schedule: tuple[tuple[int, float], ...],
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    steps = sorted(schedule)
    return np.array([s for s, _ in steps], dtype=np.intp), np.array([lv for _, lv in steps])


def schedule_levels(
    schedule: tuple[tuple[int, float], ...], minutes: npt.NDArray[np.intp]
) -> FloatArray:
    """Level of a cyclic daily schedule at each of ``minutes`` of the local day."""
    if not schedule:
        return np.ones(len(minutes))
    starts, levels = _sorted_schedule(schedule)
    k = starts.searchsorted(minutes, side="right") - 1
    out: FloatArray = levels[k]  # k == -1 wraps to the last step of the previous day
    return out


def schedule_level(schedule: tuple[tuple[int, float], ...], minute: int) -> float:
    """Level of a cyclic daily schedule at ``minute`` of the local day."""
    return float(schedule_levels(schedule, np.array([minute], dtype=np.intp))[0])


class EnergyLedger:
    """Per-lamp power, integrated lazily (only a lamp whose power changes is touched),
    per-cluster totals, and the counterfactual baselines (full power, the config's schedule,
    the built-in reference schedule), all in Wh."""

    def __init__(
        self,
        *,
        lamps: LampTable,
        params: EnergyParams,
        starts: npt.NDArray[np.intp],
        n_clusters: int,
        levels: npt.NDArray[np.float64],
        start: float,
    ) -> None:
        self._lamps, self._params, self._starts = lamps, params, starts
        self.curve = DriverCurve(params)
        counts = np.bincount(lamps.cluster, minlength=n_clusters)
        self._cluster_n = counts.astype(np.float64)
        weights = np.bincount(lamps.cluster, weights=lamps.nominal_w, minlength=n_clusters)
        self._nominal_sum: npt.NDArray[np.float64] = weights.astype(np.float64)
        # Per lamp, Wh drawn since start = _wh0 + power x (t - _t_ref) / 3600: a change of
        # power moves _wh0 so the total stays continuous, and only changed lamps are touched.
        # All a changed lamp needs sits in one 32-byte row (power, _wh0, nominal W, cluster as
        # a float, exact below 2**53), gathered and put back whole: at 100,000 lamps the
        # gathers wait on memory, and one row costs about what one column does.
        self._rows = np.zeros((len(lamps), _COLUMNS))
        self._row_items = self._rows.view(f"V{8 * _COLUMNS}").reshape(-1)  # a row per item
        self.power = self._rows[:, _POWER]
        self._wh0 = self._rows[:, _WH0]
        self._rows[:, _NOMINAL] = lamps.nominal_w
        self._rows[:, _CLUSTER] = lamps.cluster
        self.curve.power_w(levels, lamps.nominal_w, out=self.power)
        self._t_ref = float(start)
        self._new_power = np.empty(len(lamps))
        self._steps = 0
        self.cluster_power = np.zeros(n_clusters)
        self._resync(float(start))
        self.energy_wh = np.zeros(n_clusters)
        self.baseline_full_wh = np.zeros(n_clusters)
        self.baseline_schedule_wh = np.zeros(n_clusters)
        self.baseline_reference_wh = np.zeros(n_clusters)
        # Per cluster, the baselines' power (W) under the calendar of the step just taken:
        # what the interval up to the next step is counted at.
        self._full_w = self._sched_w = self._ref_w = np.zeros(n_clusters)
        # The lamps' own meters (a D4i driver's energy counter, in Wh, reported in the lamp's
        # state): a lamp that reports one is metered from its first reading on, and the
        # ledger follows its counter instead of the model for it.
        self.meter_wh = np.full(len(lamps), np.nan)  # the counter's last reading
        self.meter_t = np.full(len(lamps), np.nan)  # when that reading arrived
        # readings saved before a restart: the time since is unknown (a gateway without a
        # real-time clock boots at the time it shut down at, then NTP may set it)
        self._meter_restored = np.zeros(len(lamps), dtype=bool)
        self._metered = np.empty(0, dtype=np.intp)  # lamps with a meter, sorted
        self._meter_pending = np.zeros(n_clusters)  # rises read, not yet booked
        self._no_meters = np.zeros(n_clusters)
        self._no_meters.flags.writeable = False
        self.ledger_wh = np.zeros(n_clusters)  # metered where lamps meter, modelled elsewhere
        self.metered_wh = np.zeros(n_clusters)  # what the meters counted
        self.metered_model_wh = np.zeros(n_clusters)  # the model's figure for metered lamps

    def _resync(self, now: float) -> None:
        """Exact per-cluster power, and the lamps' reference time moved to ``now``."""
        self._wh0 += self.power * ((now - self._t_ref) / 3600.0)
        self._t_ref = now
        if len(self._lamps):
            self.cluster_power = np.add.reduceat(self.power, self._starts)
            self.cluster_power[self._cluster_n == 0] = 0.0

    def calendar(self, night: npt.NDArray[np.bool_], minute: npt.NDArray[np.intp]) -> None:
        """Each cluster's night verdict and minute of the local day from now on: the
        baselines' power until the calendar changes (full power, the config's schedule and
        the reference schedule by night; standby by day)."""
        self._full_w = self._baseline_w(night.astype(np.float64))
        self._sched_w = self._baseline_w(night * schedule_levels(self._params.schedule, minute))
        self._ref_w = self._baseline_w(night * schedule_levels(REFERENCE_SCHEDULE, minute))

    def _baseline_w(self, level: FloatArray) -> FloatArray:
        """W per cluster with every lamp at its cluster's ``level`` (0: off, on standby)."""
        lit = self._nominal_sum * self.curve.fractions(level)
        off = self._cluster_n * self.curve.standby_w
        out: FloatArray = np.where(level > 0, lit, off)
        return out

    def integrate(self, dt: float) -> tuple[FloatArray, ...]:
        """Add the interval just ended (at the power held during it, the baselines at the
        calendar then); returns its Wh: modelled, full power, the config's schedule, the
        reference schedule, the ledger's (the modelled Wh of unmetered lamps; the metered
        ones come by ``book_meters``) and the model's Wh for the metered lamps."""
        hours = dt / 3600.0
        actual: FloatArray = self.cluster_power * hours
        if len(self._metered):
            idx = self._metered
            per_cluster = np.bincount(self._lamps.cluster[idx], self.power[idx], len(actual))
            model_m: FloatArray = per_cluster.astype(np.float64) * hours
            ledger: FloatArray = np.maximum(actual - model_m, 0.0)  # >= 0 whatever the rounding
        else:
            ledger, model_m = actual.copy(), self._no_meters
        self.ledger_wh += ledger
        self.metered_model_wh += model_m
        full, sched, ref = self._full_w * hours, self._sched_w * hours, self._ref_w * hours
        self.energy_wh += actual
        self.baseline_full_wh += full
        self.baseline_schedule_wh += sched
        self.baseline_reference_wh += ref
        return actual, full, sched, ref, ledger, model_m

    def book_meters(self) -> FloatArray | None:
        """The rises of the readings taken since the last call, per cluster, now in the ledger
        (None if none): booked in the step that read them, so a checkpoint after the step
        holds each reading and its rise together."""
        if not self._meter_pending.any():
            return None
        rises, self._meter_pending = self._meter_pending, np.zeros(len(self._meter_pending))
        self.ledger_wh += rises
        self.metered_wh += rises
        return rises

    def levels_changed(
        self,
        now: float,
        changed: npt.NDArray[np.intp],
        new_levels: npt.NDArray[np.float64],
        levels: npt.NDArray[np.float64],
        unit: bool = False,
    ) -> None:
        """New power for the lamps whose level moved at ``now`` (``changed``, their
        ``new_levels``; ``levels`` of every lamp). ``unit``: every level is within [0, 1]."""
        self._steps += 1
        hours = (now - self._t_ref) / 3600.0
        if len(changed) > len(levels) // 2:
            # Most moved: whole-array passes beat gathers and scatters of a large subset.
            new = self.curve.power_w(levels, self._lamps.nominal_w, out=self._new_power)
            delta = self.power - new
            delta *= hours
            self._wh0 += delta
            self.power[:] = new
            self._resync(now)
        elif len(changed):
            rows = self._row_items.take(changed).view(np.float64).reshape(-1, _COLUMNS)
            new = self.curve.power_w(new_levels, rows[:, _NOMINAL], unit=unit)
            delta = rows[:, _POWER] - new
            clusters = rows[:, _CLUSTER].astype(np.intp)
            self.cluster_power -= np.bincount(clusters, delta, len(self.cluster_power))
            delta *= hours
            rows[:, _WH0] += delta
            rows[:, _POWER] = new
            self._row_items.put(changed, rows.view(self._row_items.dtype).reshape(-1))
        if self._steps % _RESYNC_STEPS == 0:
            self._resync(now)  # exact re-sum now and then: incremental updates never drift

    def shift(self, delta: float) -> None:
        """The clock moved by ``delta``: no energy is added or taken for the move. (Meter
        reading times stay: a reading's rise is checked against the time that really passed,
        and one the clock went back past is checked against METER_UNKNOWN_S.)"""
        self._t_ref += delta

    def read_meter(self, now: float, j: int, wh: float) -> str:
        """Lamp ``j``'s counter reads ``wh`` at ``now``; returns what it was: "first" (from
        now on the lamp is metered), "ok", "reset" (the counter went back: counted from 0),
        or "implausible" (it rose faster than the lamp can draw: refused, and the next
        reading counts from this one)."""
        last, t_last = self.meter_wh[j], self.meter_t[j]
        self.meter_wh[j], self.meter_t[j] = wh, now
        restored, self._meter_restored[j] = self._meter_restored[j], False
        if np.isnan(last):
            self._metered = np.union1d(self._metered, [j]).astype(np.intp)
            return "first"
        rise, verdict = wh - last, "ok"
        if rise < 0:  # a new driver, or a counter that does not survive a power cut
            rise, verdict = wh, "reset"
        elapsed = now - t_last if now >= t_last else METER_UNKNOWN_S
        if restored:  # the reboot may be longer than the clock says
            elapsed = max(elapsed, METER_UNKNOWN_S)
        most = self._lamps.nominal_w[j] * METER_HEADROOM * elapsed / 3600.0 + METER_SLACK_WH
        if rise > most:
            return "implausible"
        self._meter_pending[int(self._lamps.cluster[j])] += rise
        return verdict

    def unmeter(self, j: int) -> bool:
        """Lamp ``j`` reported its state without a counter (a driver that stopped answering,
        other firmware): the model counts it from now on (the time since its last reading is
        counted by neither). True if it was metered."""
        if np.isnan(self.meter_wh[j]):
            return False
        self.meter_wh[j] = self.meter_t[j] = np.nan
        self._meter_restored[j] = False
        self._metered = np.setdiff1d(self._metered, [j]).astype(np.intp)
        return True

    def meters(self) -> tuple[npt.NDArray[np.intp], FloatArray, FloatArray]:
        """The metered lamps, their last readings and when they arrived (to persist)."""
        idx = self._metered
        return idx, self.meter_wh[idx], self.meter_t[idx]

    def restore_meters(self, idx: npt.NDArray[np.intp], wh: FloatArray, t: FloatArray) -> None:
        """Readings from before a restart: the next reading of each lamp counts from them,
        so what the lamps drew while the daemon was down is in the ledger too. How long it
        was down, the clock may not know (a gateway without a real-time clock boots at the
        time it shut down at): that reading may cover up to METER_UNKNOWN_S."""
        self.meter_wh[idx], self.meter_t[idx] = wh, t
        self._meter_restored[idx] = True
        self._metered = np.union1d(self._metered, idx).astype(np.intp)

    def lamp_wh(self, now: float) -> npt.NDArray[np.float64]:
        """Energy drawn per lamp since start (Wh), integrated up to ``now``."""
        out: npt.NDArray[np.float64] = self.power * ((now - self._t_ref) / 3600.0)
        out += self._wh0
        return out
