"""Presence boost state: which lamps are lit for road users, and until when.

Counts start tracks (``Tracks``); each tick every lamp in a tracked road user's window is
lit until ``hold_s`` past this tick (``boost_until``), so a lamp the road user has passed
keeps its light for ``hold_s`` after the last tick it was in a window.
"""

from __future__ import annotations

import collections
import math

import numpy as np
import numpy.typing as npt

from edge.control._presence import PresenceGeometry, Tracks, travel_speeds
from edge.control._spec import PresenceParams, SiteSpec

__all__ = ["HELD_TICKS", "PresenceBoost"]

#: Lighting ticks whose windows are kept whole for explain (more: written per lamp).
HELD_TICKS = 64

IntArray = npt.NDArray[np.intp]


class PresenceBoost:
    """Per-lamp boost arrays plus the tracks that drive them."""

    def __init__(self, *, site: SiteSpec, params: PresenceParams) -> None:
        n = len(site.lamps)
        self.params = params
        self.geometry = PresenceGeometry(site, params)
        self.tracks = Tracks(track_s=params.track_s, geometry=self.geometry)
        self.boost_until = np.full(n, -math.inf)
        self.lit_at = -math.inf  # the last tick that lit lamps for tracked road users
        self._latest = -math.inf  # the latest boost_until set so far
        # Which sensor's road user lit a lamp matters only to explain, so it is not kept per
        # lamp: each lighting tick's windows are kept while their hold lasts, and the sensor
        # is found from them on demand (``sensor_of``).
        self._held: collections.deque[tuple[float, IntArray, IntArray, IntArray]] = (
            collections.deque()
        )  # (until, window starts, window ends, sensors), oldest first
        # beyond HELD_TICKS lighting ticks (a long hold_s), the oldest are written per lamp
        self._sensor_before = np.full(n, -1, dtype=np.intp)
        self._rank = np.empty(n, dtype=np.intp)  # each lamp's place on the key line
        self._rank[self.geometry.order] = np.arange(n)

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
                lo, hi = tr.windows(at)
                until = now + self.params.hold_s
                self.boost_until[tr.lamps_in(lo, hi)] = until
                self._held.append((until, lo, hi, tr.sensor.copy()))
                self.lit_at = now
                self._latest = max(self._latest, until)
        while self._held and self._held[0][0] <= now:
            self._held.popleft()  # its hold is over
        while len(self._held) > HELD_TICKS:  # memory stays bounded whatever hold_s is
            _, lo, hi, sensors = self._held.popleft()
            self._sensor_before[self.tracks.lamps_in(lo, hi)] = np.repeat(sensors, hi - lo)
        return self._latest > now

    def sensor_of(self, lamp: int, now: float) -> int:
        """The sensor whose road user keeps ``lamp`` boosted at ``now`` (-1: none). The
        lamp's hold began at the last tick a window held it; of that tick's windows holding
        it, the last one set it."""
        until = float(self.boost_until[lamp])
        if until <= now:
            return -1
        place = int(self._rank[lamp])
        for held_until, lo, hi, sensors in reversed(self._held):
            if held_until == until:
                holding = ((lo <= place) & (place < hi)).nonzero()[0]
                return int(sensors[holding[-1]]) if len(holding) else -1
        return int(self._sensor_before[lamp])  # lit last by a tick no longer kept whole

    def held_by_track(self, lamp: int, now: float) -> bool:
        """Whether a tracked road user lit ``lamp`` at ``now`` (its hold has not begun)."""
        return self.lit_at == now and bool(self.boost_until[lamp] == now + self.params.hold_s)
