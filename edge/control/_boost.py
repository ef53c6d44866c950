"""Presence boost state: which lamps are lit for road users, and until when.

Counts start tracks (``Tracks``); each tick every lamp in a tracked road user's window is
lit until ``hold_s`` past this tick (``boost_until``), so a lamp the road user has left keeps
its light for ``hold_s`` after the last tick it was in a window. Entry lamps (where road
users come onto a road) are lit all night: their ``boost_until`` is infinite.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from edge.control._presence import PresenceGeometry, Tracks, speed_bands
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
        self.entry = self.geometry.entry
        self._entry_lamps = self.entry.nonzero()[0]
        self.boost_until = np.full(n, -math.inf)
        self.boost_until[self._entry_lamps] = math.inf
        self._latest = math.inf if len(self._entry_lamps) else -math.inf

    def counted(
        self,
        now: float,
        sensors: IntArray,
        forward: npt.NDArray[np.bool_],
        counts: npt.NDArray[np.int64],
        mean_speed: npt.NDArray[np.float64],
        single: npt.NDArray[np.bool_],
    ) -> None:
        """Road users counted at ``sensors`` (per kind), travelling forward or not, from
        reports that counted ``single`` road user or more: a track per report and kind
        counted; one each way where the sensor gives no direction."""
        if not self.params.enabled:
            return
        geo = self.geometry
        low, high = speed_bands(single, mean_speed, geo.sensor_limit[sensors],
                                self.params.speed_spread)  # fmt: skip
        row, kind = (counts > 0).nonzero()
        sensor, fwd = sensors[row], forward[row]
        low, high = low[row, kind], high[row, kind]
        both = ~geo.sensor_directional[sensor]
        if both.any():  # no direction: a twin going the other way
            twin = both.nonzero()[0]
            sensor = np.concatenate((sensor, sensor[twin]))
            fwd = np.concatenate((fwd | both, np.zeros(len(twin), dtype=bool)))
            kind = np.concatenate((kind, kind[twin]))
            low, high = np.concatenate((low, low[twin])), np.concatenate((high, high[twin]))
            both = np.concatenate((both, np.ones(len(twin), dtype=bool)))
        self.tracks.add(now, sensor, fwd, kind, low, high, both)

    def follow(self, now: float) -> bool:
        """Light the lamps around every tracked road user at ``now``; whether any lamp may
        be boosted now (False: none is, and none needs looking at)."""
        tr = self.tracks
        if tr.size:
            low, high = tr.expire(now)
            if tr.size:
                lo, hi = tr.windows(low, high)
                lamps = tr.lamps_in(lo, hi)
                until = now + self.params.hold_s
                self.boost_until[lamps] = until
                self.boost_until[self._entry_lamps] = math.inf
                self._latest = max(self._latest, until)
        return self._latest >= now

    def shift(self, delta: float) -> None:
        """The clock moved by ``delta``: holds and road users keep their time left."""
        self.tracks.shift(delta)
        self.boost_until += delta  # -inf and inf stay what they are
        self._latest += delta

    def lit(self, now: float, out: npt.NDArray[np.float64]) -> None:
        """1.0 where a lamp is boosted at ``now`` (a road user near, or held), else 0.0."""
        np.greater_equal(self.boost_until, now, out=out)

    def sensor_of(self, lamp: int, now: float) -> int:
        """The sensor that counted a road user near ``lamp`` at ``now``, the last tick
        ``follow`` ran (-1: none is near now; a lamp held after one has left says none).
        Worked out on demand (explain), from the tracks' windows now."""
        tr = self.tracks
        if not tr.size:
            return -1
        lo, hi = tr.windows(*tr.project(now))  # follow(now) has dropped the expired
        place = self.geometry.rank[lamp]
        near = ((lo <= place) & (place < hi)).nonzero()[0]
        return int(tr.sensor[near[-1]]) if len(near) else -1

    def held_by_track(self, lamp: int, now: float) -> bool:
        """Whether a tracked road user is near ``lamp`` at ``now`` (its hold has not begun)."""
        return self.sensor_of(lamp, now) >= 0
