"""What the controller is built from: the site as arrays, and the policy's parameters.

Plain frozen dataclasses so the core depends on nothing of the project; ``edge.site``
builds them from the validated config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from edge.control._ids import LampIds
from edge.lighting import CLASS_FAMILIES, LIGHTING_CLASSES

__all__ = [
    "ClusterSpec",
    "EnergyParams",
    "LampTable",
    "NightParams",
    "PolicyParams",
    "PresenceParams",
    "SensorSpec",
    "SiteSpec",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterSpec:
    """A straight road segment. ``ladder`` is the rated class, then lower classes allowed."""

    id: str
    length_m: float
    speed_limit_mps: float
    capacity_per_h: float
    ladder: tuple[str, ...]
    two_way: bool = True

    def __post_init__(self) -> None:
        if not self.ladder:
            raise ValueError(f"cluster {self.id}: empty class ladder")
        families = {c[0] for c in self.ladder}
        if len(families) != 1 or not families <= set(CLASS_FAMILIES):
            raise ValueError(f"cluster {self.id}: classes must share one family: {self.ladder}")
        values = [LIGHTING_CLASSES[c] for c in self.ladder]
        if any(b >= a for a, b in pairwise(values)):
            raise ValueError(f"cluster {self.id}: ladder must descend in light: {self.ladder}")

    @property
    def rated_class(self) -> str:
        return self.ladder[0]

    @property
    def family(self) -> str:
        """M (motorised traffic), C (conflict areas) or P (people on foot and bikes)."""
        return self.ladder[0][0]

    @property
    def ladder_levels(self) -> tuple[float, ...]:
        """Each class's light relative to the rated class (EN 13201-2 ratios)."""
        rated = LIGHTING_CLASSES[self.ladder[0]]
        return tuple(LIGHTING_CLASSES[c] / rated for c in self.ladder)


#: Sensor types: a radar counts kind and direction and measures speed; a PIR counts kinds
#: only (no direction, no speed).
SENSOR_TYPES = ("radar", "pir")


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorSpec:
    """A road-user counter on cluster index ``cluster`` at ``position_m``."""

    id: str
    cluster: int
    position_m: float
    type: str = "radar"

    def __post_init__(self) -> None:
        if self.type not in SENSOR_TYPES:
            raise ValueError(f"sensor {self.id}: type {self.type!r} is not one of {SENSOR_TYPES}")

    @property
    def directional(self) -> bool:
        """Whether its counts say which way road users went (and how fast)."""
        return self.type == "radar"


@dataclass(frozen=True, slots=True, kw_only=True)
class LampTable:
    """Every lamp as parallel arrays; lamps of one cluster are contiguous, clusters in order."""

    ids: LampIds
    cluster: IntArray
    position_m: FloatArray
    nominal_w: FloatArray
    floor: FloatArray
    ceiling: FloatArray
    clo: FloatArray

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name in ("cluster", "position_m", "nominal_w", "floor", "ceiling", "clo"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise ValueError(f"lamp table: {name} has shape {arr.shape}, expected ({n},)")
            arr.setflags(write=False)
        if n and np.any(np.diff(self.cluster) < 0):
            raise ValueError("lamp table: lamps must be grouped by cluster, clusters in order")
        if np.any(self.floor > self.ceiling):
            raise ValueError("lamp table: a floor is above its ceiling")

    @classmethod
    def from_columns(
        cls,
        *,
        ids: Sequence[str],
        cluster: npt.ArrayLike,
        position_m: npt.ArrayLike,
        nominal_w: npt.ArrayLike,
        floor: npt.ArrayLike,
        ceiling: npt.ArrayLike,
        clo: npt.ArrayLike | None = None,
    ) -> LampTable:
        n = len(ids)
        return cls(
            ids=ids if isinstance(ids, LampIds) else LampIds(ids),
            cluster=np.asarray(cluster, dtype=np.intp).copy(),
            position_m=np.asarray(position_m, dtype=np.float64).copy(),
            nominal_w=np.asarray(nominal_w, dtype=np.float64).copy(),
            floor=np.asarray(floor, dtype=np.float64).copy(),
            ceiling=np.asarray(ceiling, dtype=np.float64).copy(),
            clo=np.ones(n) if clo is None else np.asarray(clo, dtype=np.float64).copy(),
        )

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteSpec:
    """The whole street a controller owns."""

    clusters: tuple[ClusterSpec, ...]
    sensors: tuple[SensorSpec, ...]
    lamps: LampTable

    def __post_init__(self) -> None:
        n_c = len(self.clusters)
        if len(self.lamps) and (self.lamps.cluster.min() < 0 or self.lamps.cluster.max() >= n_c):
            raise ValueError("lamp table: cluster index out of range")
        for s in self.sensors:
            if not 0 <= s.cluster < n_c:
                raise ValueError(f"sensor {s.id}: cluster index {s.cluster} out of range")
        for kind, ids in (
            ("cluster", [c.id for c in self.clusters]),
            ("sensor", [s.id for s in self.sensors]),
        ):
            if len(set(ids)) != len(ids):
                raise ValueError(f"duplicate {kind} ids")
        if self.lamps.ids.has_duplicates():
            raise ValueError("duplicate lamp ids")

    def tiled(self, n: int) -> SiteSpec:
        """The street ``n`` times over, side by side (replica r's clusters, sensors and lamps
        after those of replica r - 1, their ids ending in ``@r``): many nights at once."""
        c, lamps = len(self.clusters), self.lamps
        reps = range(n)
        return SiteSpec(
            clusters=tuple(
                dataclasses.replace(cl, id=f"{cl.id}@{r}") for r in reps for cl in self.clusters
            ),
            sensors=tuple(
                dataclasses.replace(s, id=f"{s.id}@{r}", cluster=s.cluster + r * c)
                for r in reps
                for s in self.sensors
            ),
            lamps=LampTable.from_columns(
                ids=[f"{i}@{r}" for r in reps for i in lamps.ids],
                cluster=np.concatenate([lamps.cluster + r * c for r in reps]),
                position_m=np.tile(lamps.position_m, n),
                nominal_w=np.tile(lamps.nominal_w, n),
                floor=np.tile(lamps.floor, n),
                ceiling=np.tile(lamps.ceiling, n),
                clo=np.tile(lamps.clo, n),
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class NightParams:
    """Sun times from the site's position (or a lux sensor with hysteresis)."""

    latitude: float
    longitude: float
    timezone: str = "UTC"
    elevation_m: float = 0.0
    sunset_offset_s: float = 0.0
    sunrise_offset_s: float = 0.0
    mode: str = "sun"
    lux_sensor: str | None = None
    lux_on: float = 20.0
    lux_off: float = 40.0
    lux_stale_s: float = 600.0
    day_level: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceParams:
    """ "Light follows you": which level, how far ahead and behind, how long.

    The level is per road: on M roads the class the traffic warrants plus ``m_steps_up``
    classes (at most the rated class), on P and C roads (people on foot and bikes)
    ``pc_level`` of the rated class. A counted road user is followed along its road (for at
    most ``track_s``) within the span of speeds it may have: its measured speed +-
    ``speed_spread``, or its kind's band. Lamps from ``behind_m`` behind its slowest place to
    ``lead_s`` of travel ahead of its fastest (and at least ``min_lamps_ahead``) are lit, and
    stay lit ``hold_s`` after it has left them. At each road end where road users come on,
    the lamps covering ``entry_s`` of travel at the speed limit are at the presence level
    all night: a sensor's report takes a moment to arrive.
    """

    enabled: bool = True
    m_steps_up: int = 1
    pc_level: float = 1.0
    lead_s: float = 8.0
    min_lamps_ahead: int = 3
    behind_m: float = 30.0
    hold_s: float = 5.0
    track_s: float = 900.0
    speed_spread: float = 0.12
    entry_s: float = 3.0

    @classmethod
    def off(cls) -> PresenceParams:
        """No presence lighting at all (to compare; a policy that fails the requirement)."""
        return cls(enabled=False, min_lamps_ahead=0, lead_s=0.0, behind_m=0.0, hold_s=0.0,
                   track_s=0.0, entry_s=0.0)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class EnergyParams:
    """Driver curve (level -> fraction of nominal power), standby and the schedule baseline."""

    standby_w: float = 0.5
    curve_levels: tuple[float, ...] = (0.0, 0.1, 0.5, 1.0)
    curve_power: tuple[float, ...] = (0.08, 0.15, 0.53, 1.0)
    # (minute of the local day, level) steps; each holds until the next (cyclic).
    schedule: tuple[tuple[int, float], ...] = ((720, 1.0), (1380, 0.7), (300, 1.0))


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyParams:
    """Every knob of DESIGN.md's control policy, with its defaults."""

    tick_s: float = 1.0
    flow_window_s: float = 900.0
    flow_bins: int = 15
    class_thresholds: tuple[float, ...] = (0.30, 0.15, 0.05, 0.02)
    # A class steps down (dimmer) only when flow/capacity is below threshold x (1 - this).
    class_hysteresis: float = 0.2
    presence: PresenceParams = field(default_factory=PresenceParams)
    ramp_up_per_s: float = 1.0
    ramp_down_per_s: float = 0.2
    stale_s: float = 300.0
    deadband: float = 0.05
    lease_s: float = 90.0
    lease_refresh_s: float = 30.0
    night: NightParams = field(default_factory=lambda: NightParams(latitude=52.0, longitude=5.0))
    energy: EnergyParams = field(default_factory=EnergyParams)
