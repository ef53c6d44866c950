"""What flows into the controller: observations, calendar profiles and manual overrides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "KINDS",
    "LampReport",
    "LuxReading",
    "Observation",
    "Op",
    "Override",
    "Profile",
    "SensorCounts",
    "SensorFault",
]

#: Road-user kinds, in the order counts are given.
KINDS = ("car", "bike", "pedestrian")

#: Speed assumed for a kind when the sensor gives no mean speed (m/s); cars use the limit.
DEFAULT_SPEED_MPS = {"bike": 5.5, "pedestrian": 1.4}

Op = Literal["set", "max", "min"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorCounts:
    """Road users that passed ``sensor`` during the last ``interval_s``, per kind.

    ``forward`` travelled towards increasing position along the road, ``backward`` the
    other way; each is a tuple of counts in ``KINDS`` order.
    """

    sensor: str
    interval_s: float
    forward: tuple[int, ...] = (0, 0, 0)
    backward: tuple[int, ...] = (0, 0, 0)
    mean_speed_mps: float | None = None

    @property
    def total(self) -> int:
        return sum(self.forward) + sum(self.backward)


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorFault:
    """A sensor node reports itself faulty (or recovered)."""

    sensor: str
    faulty: bool = True
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LuxReading:
    """Ambient light at a lux sensor."""

    sensor: str
    lux: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LampReport:
    """What a lamp node says it is doing."""

    lamp: str
    level: float
    power_w: float | None = None
    energy_wh: float | None = None
    faults: tuple[str, ...] = ()


Observation = SensorCounts | SensorFault | LuxReading | LampReport


@dataclass(frozen=True, slots=True, kw_only=True)
class Override:
    """A manual layer: ``op`` at ``level`` on ``target`` (lamp, cluster or "all") until expiry.

    ``allow_dark`` lets a Set/Min go below the night floor (maintenance, an explicit choice).
    """

    id: str
    target: str
    op: Op
    level: float
    expires_at: float
    created_at: float = 0.0
    allow_dark: bool = False
    reason: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.level <= 1.0:
            raise ValueError(f"override level {self.level} outside [0, 1]")
        if self.op not in ("set", "max", "min"):
            raise ValueError(f"override op {self.op!r} is not set, max or min")


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """A calendar layer active between ``start_min`` and ``end_min`` (minutes of local day).

    A window that crosses midnight belongs to the weekday it started on; ``days`` holds
    weekday numbers (Monday 0) or None for every day. Profiles apply at night only.
    """

    id: str
    target: str
    op: Op
    level: float
    start_min: int
    end_min: int
    days: frozenset[int] | None = None

    def active(self, minute: int, weekday: int) -> bool:
        """Whether the profile applies at ``minute`` of a local day that is ``weekday``."""
        if self.start_min == self.end_min:
            inside, started = True, weekday
        elif self.start_min < self.end_min:
            inside, started = self.start_min <= minute < self.end_min, weekday
        elif minute >= self.start_min:
            inside, started = True, weekday
        else:
            inside, started = minute < self.end_min, (weekday - 1) % 7
        return inside and (self.days is None or started in self.days)
