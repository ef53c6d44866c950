"""The night a simulation runs: where it starts and ends, when it is dark, and the site's
local time, so the engine, the traffic, the faults and the KPIs read one clock."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import astral
import astral.sun

from edge.config import SiteConfig

__all__ = ["NightWindow", "night_window"]


@dataclass(frozen=True)
class NightWindow:
    """Epoch seconds: the simulated span [start, end), and sunset and sunrise within it (the
    span scored for safety, whatever the policy thinks is night)."""

    day: date
    start: float
    end: float
    sunset: float
    sunrise: float
    zone: ZoneInfo

    def local(self, t: float) -> datetime:
        """Epoch seconds as the site's wall clock."""
        return datetime.fromtimestamp(t, self.zone)

    def at(self, clock: time) -> float:
        """The first moment at or after ``start`` when the site's wall clock reads ``clock``."""
        begin = self.local(self.start)
        when = datetime.combine(begin.date(), clock, self.zone)
        if when < begin:
            when += timedelta(days=1)
        return when.timestamp()

    def first(self, seconds: float) -> NightWindow:
        """Only the first ``seconds`` of this night (a short scenario): scored as far as it
        goes, sunset and sunrise where they are."""
        return dataclasses.replace(self, end=min(self.end, self.start + seconds))


def night_window(site: SiteConfig, day: date, margin_s: float = 900.0) -> NightWindow:
    """From ``margin_s`` before sunset on ``day`` (back to the whole minute: nights run side
    by side then turn their minutes together) to ``margin_s`` after sunrise the next day."""
    loc = site.site
    tz = loc.zone
    obs = astral.Observer(loc.latitude, loc.longitude, loc.elevation_m)
    try:
        sunset = astral.sun.sunset(obs, day, tzinfo=tz).timestamp()
        sunrise = astral.sun.sunrise(obs, day + timedelta(days=1), tzinfo=tz).timestamp()
    except ValueError:  # polar day or night: simulate 18:00 to 06:00 local
        sunset = datetime.combine(day, time(0), tz).timestamp() + 18 * 3600
        sunrise = sunset + 12 * 3600
    start = math.floor((sunset - margin_s) / 60.0) * 60.0
    return NightWindow(day, start, sunrise + margin_s, sunset, sunrise, tz)
