"""Presence boost state: which lamps are lit for road users, and until when.

Counts start tracks (``Tracks``); each tick the lamps around every tracked road user are
lit. Only window edges are touched: a lamp entering a track's window is boosted for as long as
it stays in some window (``boost_until`` = inf); when it leaves the last one its boost runs
``hold_s`` from the last tick it was inside. Same result as re-boosting every lamp in every
window each tick, at the cost of the edges alone.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from edge.control._presence import PresenceGeometry, Tracks, travel_speeds
from edge.control._spec import PresenceParams, SiteSpec

__all__ = ["PresenceBoost"]

IntArray = npt.NDArray[np.intp]


class PresenceBoost:
    """Per-lamp boost arrays plus the tracks that drive them."""

    def __init__(self, *, site: SiteSpec, params: PresenceParams) -> None:
        n = len(site.lamps)
        self.params = params
        self.geometry = PresenceGeometry(site, params)
        self.tracks = Tracks(
            track_s=params.track_s,
            lengths=np.array([cl.length_m for cl in site.clusters], dtype=np.float64),
        )
        self.boost_until = np.full(n, -math.inf)
        self.boost_sensor = np.full(n, -1, dtype=np.intp)
        self._in_window = np.zeros(n, dtype=np.int32)  # track windows each lamp is in
        self._no_lamps: IntArray = np.zeros(0, dtype=np.intp)
        self._boosted = self._no_lamps
        self._new_boost = self._no_lamps
        self._in_boost = np.zeros(n, dtype=bool)  # whether a lamp is in _boosted/_new_boost

    def counted(
        self,
        now: float,
        sensors: IntArray,
        direction: IntArray,
        counts: npt.NDArray[np.int64],
        mean_speed: npt.NDArray[np.float64],
    ) -> None:
        """Road users counted at ``sensors`` travelling ``direction``: start their tracks."""
        geo = self.geometry
        speeds = travel_speeds(counts, mean_speed, geo.sensor_limit[sensors])
        self.tracks.add(now, sensors, geo.sensor_cluster[sensors], geo.sensor_pos[sensors],
                        direction, speeds)  # fmt: skip

    def follow(self, now: float, last_tick: float) -> None:
        """Move every track's window to ``now``; ``last_tick`` is the previous step's time."""
        tr, geo = self.tracks, self.geometry
        tr.expire(now)
        if not tr.size and not tr.dropped:
            return  # nobody tracked, nobody just lost: no window moved
        old_lo, old_hi = tr.lo, tr.hi
        if tr.size:
            lo, hi = geo.spans(tr.cluster, tr.position(now), tr.direction, tr.speed)
        else:
            lo = hi = self._no_lamps
        if not tr.dropped and np.array_equal(lo, old_lo) and np.array_equal(hi, old_hi):
            return  # every window still covers the same lamps
        # entered: new window less old; left: old less new, and whole windows of dropped tracks
        enter_lo = np.concatenate((lo, np.maximum(lo, old_hi)))
        enter_hi = np.concatenate((np.minimum(hi, old_lo), hi))
        gone_lo, gone_hi = tr.take_dropped()
        leave_lo = np.concatenate((old_lo, np.maximum(old_lo, hi), gone_lo))
        leave_hi = np.concatenate((np.minimum(old_hi, lo), old_hi, gone_hi))
        tr.lo, tr.hi = lo, hi
        entered, span = geo.expand(enter_lo, np.maximum(enter_hi, enter_lo))
        left, _ = geo.expand(leave_lo, np.maximum(leave_hi, leave_lo))
        if len(entered):
            np.add.at(self._in_window, entered, 1)
            self.boost_until[entered] = math.inf
            self.boost_sensor[entered] = np.concatenate((tr.sensor, tr.sensor))[span]
            fresh = entered[~self._in_boost[entered]]
            self._in_boost[fresh] = True
            self._new_boost = np.concatenate((self._new_boost, fresh))
        if len(left):
            np.add.at(self._in_window, left, -1)
            out = left[self._in_window[left] == 0]
            # the last tick they were lit by a road user was the previous one
            self.boost_until[out] = last_tick + self.params.hold_s

    def boosted(self, now: float) -> IntArray:
        """Lamps boosted now: last step's set less the expired, plus the newly boosted."""
        if not len(self._boosted) and not len(self._new_boost):
            return self._no_lamps
        boosted = np.concatenate((self._boosted, self._new_boost))
        self._new_boost = self._no_lamps
        live = self.boost_until[boosted] > now
        self._in_boost[boosted[~live]] = False
        self._boosted = boosted[live]
        return self._boosted
