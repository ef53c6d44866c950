"""Is it night? Sun times from astral (cached per local date), or a lux sensor with hysteresis;
and the site's calendar (night, minute of the local day, weekday) for each of its clusters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import astral
import astral.sun
import numpy as np
import numpy.typing as npt

from edge.control._spec import NightParams

__all__ = ["LocalTime", "NightClock", "NightVerdict", "SiteCalendar"]


@dataclass(frozen=True, slots=True)
class LocalTime:
    """The site's wall clock at a moment: date, minute of day, weekday (Monday 0)."""

    date: date
    minute: int
    weekday: int


@dataclass(frozen=True, slots=True)
class NightVerdict:
    """Night or day, and why (for explain)."""

    night: bool
    source: str  # "sun", "lux" or "polar"
    lights_on_at: float | None  # epoch seconds of today's switch-on (sun mode)
    lights_off_at: float | None  # epoch seconds of today's switch-off (sun mode)
    lux: float | None = None


class NightClock:
    """Pure: time is a parameter. Caches sun times per local date."""

    def __init__(self, params: NightParams) -> None:
        self._p = params
        self._tz = ZoneInfo(params.timezone)
        self._observer = astral.Observer(params.latitude, params.longitude, params.elevation_m)
        self._sun_cache: dict[date, tuple[float | None, float | None, bool]] = {}
        self._lux: float | None = None
        self._lux_at = -float("inf")
        self._lux_night = False
        self._local_cache: tuple[int, LocalTime] | None = None
        self._sun_verdict: tuple[float, float, NightVerdict] | None = None  # valid [from, to)

    @property
    def params(self) -> NightParams:
        return self._p

    def local(self, now: float) -> LocalTime:
        """Wall-clock minute and weekday at ``now`` (cached per minute)."""
        key = int(now // 60)
        cached = self._local_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        dt = datetime.fromtimestamp(now, self._tz)
        value = LocalTime(dt.date(), dt.hour * 60 + dt.minute, dt.weekday())
        self._local_cache = (key, value)
        return value

    def sun_times(self, day: date) -> tuple[float | None, float | None, bool]:
        """(lights on, lights off) epoch seconds for a local date; polar days give Nones.

        The third item is the polar verdict: True when the sun never rises that day.
        """
        cached = self._sun_cache.get(day)
        if cached is not None:
            return cached
        try:
            sunset = astral.sun.sunset(self._observer, day, tzinfo=self._tz).timestamp()
            sunrise = astral.sun.sunrise(self._observer, day, tzinfo=self._tz).timestamp()
            value: tuple[float | None, float | None, bool] = (
                sunset + self._p.sunset_offset_s,
                sunrise - self._p.sunrise_offset_s,
                False,
            )
        except ValueError:
            noon = datetime.combine(day, time(12), self._tz).astimezone(UTC)
            value = (None, None, astral.sun.elevation(self._observer, noon) < 0)
        if len(self._sun_cache) > 64:
            self._sun_cache.clear()
        self._sun_cache[day] = value
        return value

    def observe_lux(self, now: float, lux: float) -> None:
        """A reading from the configured lux sensor; hysteresis between lux_on and lux_off."""
        self._lux, self._lux_at = lux, now
        if lux < self._p.lux_on:
            self._lux_night = True
        elif lux > self._p.lux_off:
            self._lux_night = False

    def shift(self, delta: float) -> None:
        """The clock moved by ``delta``: the last lux reading keeps its age."""
        self._lux_at += delta

    def verdict(self, now: float) -> NightVerdict:
        """Night or day at ``now``: the lux sensor when configured and fresh, else the sun."""
        return self.verdict_while(now)[0]

    def verdict_while(self, now: float) -> tuple[NightVerdict, float, float]:
        """The verdict at ``now`` and the times [from, to) it and the local minute hold
        (none past ``now`` in lux mode: a reading may change it at any step)."""
        if self._p.mode == "lux":
            verdict = self._sun_or_lux(now)
            return verdict, now, now
        verdict = self._sun_or_lux(now)
        cached = self._sun_verdict
        assert cached is not None
        return verdict, cached[0], cached[1]

    def _sun_or_lux(self, now: float) -> NightVerdict:
        if self._p.mode == "lux" and now - self._lux_at <= self._p.lux_stale_s:
            return NightVerdict(self._lux_night, "lux", None, None, self._lux)
        cached = self._sun_verdict
        if cached is not None and cached[0] <= now < cached[1]:
            return cached[2]
        # The verdict holds for the rest of this minute (the local date, hence the sun
        # times, cannot change within it) up to the next switch.
        lo = (now // 60.0) * 60.0
        hi = lo + 60.0
        on, off, polar_night = self.sun_times(self.local(now).date)
        if on is None or off is None:
            verdict = NightVerdict(polar_night, "polar", None, None)
        else:
            verdict = NightVerdict(now >= on or now < off, "sun", on, off)
            for switch in (on, off):
                if switch <= now:
                    lo = max(lo, switch)
                else:
                    hi = min(hi, switch)
        self._sun_verdict = (lo, hi, verdict)
        return verdict


IntArray = npt.NDArray[np.intp]


class SiteCalendar:
    """Night or day, the minute of the local day and the weekday, per cluster. A gateway's
    clusters share one clock; the simulator runs many nights of a site side by side as
    replicas, replica r's clock ``offsets[r]`` seconds ahead of the controller's, cluster k
    in replica ``replica[k]``. Each replica's verdict is worked out again only when the one
    it has runs out (the minute ends, the lights switch), so a step usually costs one
    comparison."""

    def __init__(self, params: NightParams, offsets: Sequence[float], replica: IntArray) -> None:
        n = len(offsets)
        self.clocks = [NightClock(params) for _ in range(n)]
        self.offsets = np.asarray(offsets, dtype=np.float64)
        self._replica = replica
        self.verdicts: list[NightVerdict | None] = [None] * n
        self._from, self._to = np.full(n, np.inf), np.full(n, -np.inf)  # each one's [from, to)
        self._night = np.zeros(n, dtype=bool)
        self._minute = np.zeros(n, dtype=np.intp)
        self._weekday = np.zeros(n, dtype=np.intp)
        c = len(replica)
        self.night = np.zeros(c, dtype=bool)  # per cluster
        self.minute = np.zeros(c, dtype=np.intp)
        self.weekday = np.zeros(c, dtype=np.intp)
        self.switched: list[int] = []
        self.any_night = False

    def advance(self, now: float) -> bool:
        """The calendar at ``now`` (the controller's clock); whether any replica's was worked
        out again. ``switched``: the replicas whose night came or went (all at the first)."""
        t = now + self.offsets
        stale = ((t < self._from) | (t >= self._to)).nonzero()[0]
        self.switched = []
        if not len(stale):
            return False
        for r in stale.tolist():
            at = float(t[r])
            clock = self.clocks[r]
            verdict, self._from[r], self._to[r] = clock.verdict_while(at)
            local = clock.local(at)
            before = self.verdicts[r]
            if before is None or before.night != verdict.night:
                self.switched.append(r)
            self.verdicts[r] = verdict
            self._night[r], self._minute[r], self._weekday[r] = (
                verdict.night, local.minute, local.weekday,
            )  # fmt: skip
        np.take(self._night, self._replica, out=self.night)
        np.take(self._minute, self._replica, out=self.minute)
        np.take(self._weekday, self._replica, out=self.weekday)
        self.any_night = bool(self._night.any())
        return True

    def clusters_of(self, replicas: list[int]) -> IntArray:
        """The clusters of these replicas."""
        if not replicas:
            return np.zeros(0, dtype=np.intp)
        out: IntArray = np.isin(self._replica, replicas).nonzero()[0]
        return out

    def observe_lux(self, now: float, lux: float) -> None:
        """A reading of the site's lux sensor (every replica's: they share it)."""
        for r, clock in enumerate(self.clocks):
            clock.observe_lux(now + float(self.offsets[r]), lux)
        self._to.fill(-np.inf)

    def shift(self, delta: float) -> None:
        """The controller's clock moved by ``delta``: lux readings keep their age."""
        for clock in self.clocks:
            clock.shift(delta)
        self._to.fill(-np.inf)
