"""The street's sections of the site config: roads (clusters) with their lamps and sensors,
calendar profiles and declared quiet hours, and the field types they share with the policy's
sections (a lighting class, a time of day). The whole config is ``edge.config``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, field_validator

from edge._config_gateway import ID_PATTERN, Strict
from edge.lighting import LIGHTING_CLASSES

__all__ = [
    "ClusterConfig",
    "LampArrayConfig",
    "LampConfig",
    "LightingClass",
    "ProfileConfig",
    "QuietHoursConfig",
    "ResolvedLamp",
    "SensorConfig",
    "hhmm",
    "known_class",
]


def known_class(value: str) -> str:
    upper = value.strip().upper()
    if upper not in LIGHTING_CLASSES:
        known = ", ".join(LIGHTING_CLASSES)
        raise ValueError(f"unknown lighting class {value!r} (EN 13201-2 classes: {known})")
    return upper


LightingClass = Annotated[str, AfterValidator(known_class)]


def hhmm(value: object) -> object:
    """Accept "HH:MM" (YAML may also hand us an int of minutes for 23:00-style sexagesimals)."""
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads unquoted 23:00 as the base-60 integer 1380.
        return time(value // 60 % 24, value % 60)
    if isinstance(value, str):
        # HH:MM, or HH:MM:SS as `config show` prints it (seconds ignored)
        m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::\d{2})?", value.strip())
        if not m or int(m[1]) > 23 or int(m[2]) > 59:
            raise ValueError(f"expected a time of day HH:MM, got {value!r}")
        return time(int(m[1]), int(m[2]))
    return value


class LampConfig(Strict):
    """One lamp; unset fields take the cluster's defaults. An ``mqtt`` lamp node (the default)
    takes its leases on ``<root>/lamp/<id>/set``; a ``serial`` one is a lamp node at ``node``
    on serial port ``port`` and takes them as SET_LEVEL frames (firmware_bridge/PROTOCOL.md)."""

    id: str = Field(pattern=ID_PATTERN)
    position_m: float = Field(ge=0)
    nominal_w: float | None = Field(default=None, gt=0)
    floor: float | None = Field(default=None, ge=0, le=1)
    ceiling: float | None = Field(default=None, gt=0, le=1)
    clo_factor: float | None = Field(default=None, gt=0, le=1)
    source: Literal["mqtt", "serial"] = "mqtt"
    port: str | None = None
    node: int | None = Field(default=None, ge=1, le=65534)


class LampArrayConfig(Strict):
    """Compact form: ``count`` lamps every ``spacing_m`` from ``start_m``, ids prefix-NNN."""

    count: int = Field(ge=1, le=100_000)
    spacing_m: float = Field(gt=0)
    start_m: float = Field(default=0.0, ge=0)
    # the lamps' ids are the prefix and a number: ids as any other, in topics and on the wire
    id_prefix: str | None = Field(default=None, pattern=r"^(?:[A-Za-z0-9][A-Za-z0-9_.\-]{0,52})?$")
    first_number: int = Field(default=1, ge=0)


class SensorConfig(Strict):
    """A road-user counter at ``position_m`` along its cluster's road. A ``radar`` counts
    each road user's kind and direction and measures speed; a ``pir`` counts kinds only
    (its counts' direction fields are ignored: it lights both ways)."""

    id: str = Field(pattern=ID_PATTERN)
    position_m: float
    type: Literal["radar", "pir"] = "radar"
    source: Literal["serial", "mqtt"]
    port: str | None = None
    node: int | None = Field(default=None, ge=0, le=65535)
    channel: int = Field(default=0, ge=0, le=255)  # the sensor number on its node
    # The most road users (all kinds, both ways) the sensor can see in a second: a report of
    # more than this times its interval (at least 1 s) is refused as implausible.
    max_per_s: float = Field(default=20.0, gt=0, le=1000)


class ClusterConfig(Strict):
    """A straight road segment and the lamps along it."""

    id: str = Field(pattern=ID_PATTERN)
    name: str = ""
    road_type: str = ""
    length_m: float = Field(gt=0)
    speed_limit_kmh: float = Field(gt=0, le=200)
    capacity_per_h: float = Field(gt=0)
    two_way: bool = True
    rated_class: LightingClass
    adapt_classes: list[LightingClass] = Field(default_factory=list)
    nominal_w: float = Field(default=60.0, gt=0)
    floor: float = Field(default=0.3, ge=0, le=1)
    ceiling: float = Field(default=1.0, gt=0, le=1)
    clo_factor: float = Field(default=1.0, gt=0, le=1)
    lamps: list[LampConfig] = Field(default_factory=list)
    lamp_array: LampArrayConfig | None = None
    sensors: list[SensorConfig] = Field(default_factory=list)

    def resolved_lamps(self) -> list[ResolvedLamp]:
        """Every lamp of the cluster with defaults filled in, explicit ones first."""
        out = [
            ResolvedLamp(
                id=lamp.id,
                cluster=self.id,
                position_m=lamp.position_m,
                nominal_w=lamp.nominal_w if lamp.nominal_w is not None else self.nominal_w,
                floor=lamp.floor if lamp.floor is not None else self.floor,
                ceiling=lamp.ceiling if lamp.ceiling is not None else self.ceiling,
                clo_factor=lamp.clo_factor if lamp.clo_factor is not None else self.clo_factor,
            )
            for lamp in self.lamps
        ]
        if self.lamp_array is not None:
            arr = self.lamp_array
            prefix = arr.id_prefix if arr.id_prefix is not None else f"{self.id}-"
            width = max(3, len(str(arr.first_number + arr.count - 1)))
            out.extend(
                ResolvedLamp(
                    id=f"{prefix}{arr.first_number + k:0{width}d}",
                    cluster=self.id,
                    position_m=arr.start_m + k * arr.spacing_m,
                    nominal_w=self.nominal_w,
                    floor=self.floor,
                    ceiling=self.ceiling,
                    clo_factor=self.clo_factor,
                )
                for k in range(arr.count)
            )
        return out


@dataclass(frozen=True, slots=True)
class ResolvedLamp:
    """A lamp with every default applied: what the controller is built from (a plain record,
    not a model: its fields come from validated ones, and a site has up to 100,000)."""

    id: str
    cluster: str
    position_m: float
    nominal_w: float
    floor: float
    ceiling: float
    clo_factor: float


class ProfileConfig(Strict):
    """A calendar layer: between ``start`` and ``end`` local time apply ``op`` at ``level``."""

    id: str = Field(pattern=ID_PATTERN)
    target: str = "all"
    op: Literal["set", "max", "min"]
    level: float = Field(ge=0, le=1)
    start: time
    end: time
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = None

    _parse_times = field_validator("start", "end", mode="before")(hhmm)


class QuietHoursConfig(Strict):
    """A declared reduction: between ``start`` and ``end`` local time the target cluster
    (``all``: every cluster of the class's family) is lit at most at ``class`` (presence
    included), for the stated ``reason``.
    The road authority's decision, kept apart from profiles so it is never a side effect;
    the simulator's safety score still counts it against the requirement."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=ID_PATTERN)
    target: str = "all"
    lighting_class: LightingClass = Field(alias="class")
    start: time
    end: time
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = None
    reason: str = Field(min_length=3)

    _parse_times = field_validator("start", "end", mode="before")(hhmm)
