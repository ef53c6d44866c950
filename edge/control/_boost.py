"""Presence boost state: which lamps are lit for road users, and until when.

Counts start tracks (``Tracks``); each tick every lamp in a tracked road user's window is
lit until ``hold_s`` past this tick (``boost_until``), so a lamp the road user has passed
keeps its light for ``hold_s`` after the last tick it was in a window.
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
        self.tracks = Tracks(track_s=params.track_s, geometry=self.geometry)
        self.boost_until = np.full(n, -math.inf)
        self.boost_sensor = np.full(n, -1, dtype=np.intp)
        self.lit_at = -math.inf  # the last tick that lit lamps for tracked road users
        self._latest = -math.inf  # the latest boost_until set so far

    def counted(
        self,
        now: float,
        sensors: IntArray,
        forward: npt.NDArray[np.bool_],
        counts: npt.NDArray[np.int64],
        mean_speed: npt.NDArray[np.float64],
    ) -> None:
        """Road users counted at ``sensors``, travelling forward or not: start their
        tracks."""
        speeds = travel_speeds(counts, mean_speed, sensors, self.geometry.sensor_limit)
        which = sensors * 2
        which += forward
        self.tracks.add(now, which, speeds)

    def follow(self, now: float) -> bool:
        """Light the lamps around every tracked road user at ``now``; whether any lamp may
        be boosted now (False: none is, and none needs looking at)."""
        tr = self.tracks
        if tr.size:
            at = tr.expire(now)
            if tr.size:
                lamps, sensors = tr.lit(at)
                until = now + self.params.hold_s
                self.boost_until[lamps] = until
                self.boost_sensor[lamps] = sensors
                self.lit_at = now
                self._latest = max(self._latest, until)
        return self._latest > now

    def held_by_track(self, lamp: int, now: float) -> bool:
        """Whether a tracked road user lit ``lamp`` at ``now`` (its hold has not begun)."""
        return self.lit_at == now and bool(self.boost_until[lamp] == now + self.params.hold_s)
