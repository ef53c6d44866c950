"""What flows into the controller: observations, calendar profiles and manual overrides."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from edge.lighting import layer_problem

__all__ = [
    "KINDS",
    "KIND_SPEED_BANDS",
    "CountsBatch",
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

#: The speeds a road user of each kind may have when its count says none (or counts several
#: kinds at one mean): (low, high), m/s for bikes and pedestrians, fractions of the road's
#: speed limit for cars. A pedestrian's low end is slow: people stop a while on the way.
KIND_SPEED_BANDS: dict[str, tuple[float, float]] = {
    "car": (0.5, 1.25),
    "bike": (2.0, 9.5),
    "pedestrian": (0.4, 2.0),
}

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

    def __post_init__(self) -> None:
        if len(self.forward) != len(KINDS) or len(self.backward) != len(KINDS):
            raise ValueError(f"counts need one number per kind {KINDS}")

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


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class CountsBatch:
    """Many sensors' counts as arrays (what an ingest loop accumulates over a tick).

    ``sensors`` are sensor ids; ``forward``/``backward`` have shape (k, len(KINDS));
    ``mean_speed_mps`` is 0 where unknown. Same meaning as k ``SensorCounts``.
    ``index``, when the producer knows it, is each sensor's position in the site's sensor
    list (resolved as the messages arrived); the step then skips its id look-ups.
    """

    sensors: tuple[str, ...]
    interval_s: npt.NDArray[np.float64]
    forward: npt.NDArray[np.int64]
    backward: npt.NDArray[np.int64]
    mean_speed_mps: npt.NDArray[np.float64]
    index: npt.NDArray[np.intp] | None = None

    def __post_init__(self) -> None:
        k = len(self.sensors)
        shape = (k, len(KINDS))
        if self.forward.shape != shape or self.backward.shape != shape:
            raise ValueError(f"counts must have shape {shape}")
        if self.interval_s.shape != (k,) or self.mean_speed_mps.shape != (k,):
            raise ValueError(f"interval_s and mean_speed_mps must have shape ({k},)")
        if self.index is not None and self.index.shape != (k,):
            raise ValueError(f"index must have shape ({k},)")

    @classmethod
    def of(cls, counts: list[SensorCounts], index: Sequence[int] | None = None) -> CountsBatch:
        """Pack SensorCounts objects into one batch (``index``: their sensors' positions)."""
        k = len(counts)
        return cls(
            sensors=tuple(o.sensor for o in counts),
            interval_s=np.fromiter((o.interval_s for o in counts), np.float64, k),
            forward=np.array([o.forward for o in counts], dtype=np.int64).reshape(k, len(KINDS)),
            backward=np.array([o.backward for o in counts], dtype=np.int64).reshape(k, len(KINDS)),
            mean_speed_mps=np.fromiter((o.mean_speed_mps or 0.0 for o in counts), np.float64, k),
            index=None if index is None else np.fromiter(index, np.intp, k),
        )

    @classmethod
    def join(cls, batches: Sequence[CountsBatch]) -> CountsBatch:
        """One batch of several (a tick's counts are taken in one go)."""
        if len(batches) == 1:
            return batches[0]
        indices = [b.index for b in batches]
        return cls(
            sensors=tuple(s for b in batches for s in b.sensors),
            interval_s=np.concatenate([b.interval_s for b in batches]),
            forward=np.concatenate([b.forward for b in batches]),
            backward=np.concatenate([b.backward for b in batches]),
            mean_speed_mps=np.concatenate([b.mean_speed_mps for b in batches]),
            index=None if any(i is None for i in indices) else np.concatenate(indices),  # type: ignore[arg-type]
        )


Observation = SensorCounts | CountsBatch | SensorFault | LuxReading | LampReport


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
        problem = layer_problem(self.op, self.level)
        if problem is not None:
            raise ValueError(f"override {problem}")


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
    # quiet hours: a declared reduction (a class, for a reason), not a calendar profile
    quiet_class: str | None = None
    reason: str = ""

    def active(self, minute: int, weekday: int) -> bool:
        """Whether the profile applies at ``minute`` of a local day that is ``weekday``."""
        one = np.array([minute], dtype=np.intp), np.array([weekday], dtype=np.intp)
        return bool(self.active_at(*one)[0])

    def active_at(
        self, minute: npt.NDArray[np.intp], weekday: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.bool_]:
        """Whether the profile applies, for each (minute of the local day, weekday)."""
        start, end = self.start_min, self.end_min
        if start == end:
            inside, started = np.ones(len(minute), dtype=bool), weekday
        elif start < end:
            inside, started = (start <= minute) & (minute < end), weekday
        else:  # crosses midnight: the early hours belong to the day before
            late = minute >= start
            inside, started = late | (minute < end), np.where(late, weekday, (weekday - 1) % 7)
        if self.days is None:
            return inside
        out: npt.NDArray[np.bool_] = inside & np.isin(started, sorted(self.days))
        return out
