"""The site config: pydantic models for one gateway's street, loaded from YAML + env.

``load_config(path)`` is the one entry point. Every problem is reported as a
``ConfigIssue`` naming its dotted path (``clusters[2].lamps[5].floor``), never as
a traceback.
"""

from __future__ import annotations

import os
from datetime import time
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from edge._config_checks import semantic_issues
from edge._config_gateway import (
    GatewayConfig,
    HomeAssistantConfig,
    MetricsConfig,
    MqttConfig,
    SiteLocation,
    StorageConfig,
    Strict,
    TelemetryConfig,
    TlsConfig,
)
from edge._config_load import read_yaml, validate_document
from edge._config_street import (
    ClusterConfig,
    LampArrayConfig,
    LampConfig,
    ProfileConfig,
    QuietHoursConfig,
    ResolvedLamp,
    SensorConfig,
    hhmm,
)
from edge.errors import ConfigError

__all__ = [
    "ClusterConfig",
    "ControllerConfig",
    "EnergyConfig",
    "LampArrayConfig",
    "LampConfig",
    "MqttConfig",
    "ProfileConfig",
    "ResolvedLamp",
    "SensorConfig",
    "SiteConfig",
    "SiteLocation",
    "TlsConfig",
    "example_config_path",
    "load_config",
    "parse_config",
]


class NightConfig(Strict):
    """When the street is lit: by sun times (default) or by a lux sensor with hysteresis."""

    mode: Literal["sun", "lux"] = "sun"
    sunset_offset_min: float = Field(default=0.0, ge=-120, le=120)
    sunrise_offset_min: float = Field(default=0.0, ge=-120, le=120)
    lux_sensor: str | None = None
    lux_on: float = Field(default=20.0, ge=0)
    lux_off: float = Field(default=40.0, ge=0)
    lux_stale_s: float = Field(default=600.0, gt=0)
    day_level: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _hysteresis(self) -> NightConfig:
        if self.lux_off < self.lux_on:
            raise ValueError("lux_off must be >= lux_on (hysteresis)")
        if self.mode == "lux" and not self.lux_sensor:
            raise ValueError("mode 'lux' needs lux_sensor")
        return self


class PresenceConfig(Strict):
    """ "Light follows you": at which level, how far ahead and behind a road user, and how
    long (docs/policy.md)."""

    enabled: bool = True
    # M roads: the class the traffic warrants plus this many classes (at most the rated one)
    m_steps_up: int = Field(default=1, ge=0, le=5)
    # P and C roads (people on foot and bikes): this level of the rated class
    pc_level: float = Field(default=1.0, gt=0, le=1)
    lead_s: float = Field(default=8.0, ge=0)
    min_lamps_ahead: int = Field(default=3, ge=0)
    behind_m: float = Field(default=30.0, ge=0)
    # lit this long after the road user has left a lamp's zone (0: until it has left)
    hold_s: float = Field(default=5.0, ge=0)
    # follow a counted road user along its road for up to track_s (0: light at the sensor only)
    track_s: float = Field(default=900.0, ge=0)
    # a measured speed's uncertainty (relative): the lit zone grows with the time since
    speed_spread: float = Field(default=0.12, ge=0, lt=1)
    # road ends where road users come on: lamps over this much travel at the limit stay lit
    entry_s: float = Field(default=3.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _no_single_level(cls, data: Any) -> Any:
        if isinstance(data, dict) and "level" in data:
            raise ValueError(
                "presence.level is no longer used: the presence level is per road, "
                "m_steps_up (M roads: classes above the warranted one, default 1) and "
                "pc_level (P and C roads: share of the rated class, default 1.0)"
            )
        return data


class ControllerConfig(Strict):
    """The dimming policy's parameters (DESIGN.md, "The control policy")."""

    tick_s: float = Field(default=1.0, gt=0, le=60)
    flow_window_s: float = Field(default=900.0, ge=60)
    flow_bins: int = Field(default=15, ge=1, le=240)
    # Fractions of road capacity, descending: flow/capacity >= t[0] keeps the rated class,
    # >= t[1] one class down, and so on; below the last, the lowest class allowed.
    class_thresholds: list[float] = Field(default_factory=lambda: [0.30, 0.15, 0.05, 0.02])
    # Dimmer only once flow/capacity is below threshold x (1 - class_hysteresis): no flapping.
    class_hysteresis: float = Field(default=0.2, ge=0, lt=1)
    presence: PresenceConfig = PresenceConfig()
    ramp_up_per_s: float = Field(default=1.0, gt=0)
    # dimming; 0.2/s (the default) once nobody is near; a slower comfort ramp if asked for
    ramp_down_per_s: float = Field(default=0.2, gt=0)
    stale_s: float = Field(default=300.0, gt=0)
    # Resend a setpoint only once the level moved this far (the node ramps in between).
    deadband: float = Field(default=0.05, ge=0, le=0.5)
    lease_s: float = Field(default=90.0, gt=0)
    lease_refresh_s: float = Field(default=30.0, gt=0)
    night: NightConfig = NightConfig()

    @field_validator("class_thresholds")
    @classmethod
    def _descending(cls, value: list[float]) -> list[float]:
        if any(not 0 < t <= 1 for t in value):
            raise ValueError("each threshold is a fraction of capacity in (0, 1]")
        if any(a <= b for a, b in pairwise(value)):
            raise ValueError("thresholds must be strictly descending")
        return value

    @model_validator(mode="after")
    def _lease(self) -> ControllerConfig:
        if self.lease_refresh_s >= self.lease_s:
            raise ValueError("lease_refresh_s must be shorter than lease_s (refresh before expiry)")
        if self.lease_s <= self.tick_s:
            raise ValueError("lease_s must be longer than tick_s")
        return self


class ScheduleStep(Strict):
    """From ``start`` (local time) on, the fixed-schedule baseline runs at ``level``."""

    start: time
    level: float = Field(ge=0, le=1)

    _parse_start = field_validator("start", mode="before")(hhmm)


def _default_schedule() -> list[ScheduleStep]:
    return [
        ScheduleStep(start=time(12, 0), level=1.0),
        ScheduleStep(start=time(23, 0), level=0.7),
        ScheduleStep(start=time(5, 0), level=1.0),
    ]


class EnergyConfig(Strict):
    """Driver curve, standby power, the fixed-schedule baseline, and the report's factors."""

    standby_w: float = Field(default=0.5, ge=0)
    # (level, fraction of nominal power) points, linear in between; level 0 means off (standby).
    driver_curve: list[tuple[float, float]] = Field(
        default_factory=lambda: [(0.0, 0.08), (0.1, 0.15), (0.5, 0.53), (1.0, 1.0)]
    )
    schedule_baseline: list[ScheduleStep] = Field(default_factory=_default_schedule)
    co2_kg_per_kwh: float = Field(default=0.25, ge=0)
    price_per_kwh: float = Field(default=0.25, ge=0)
    currency: str = "EUR"
    checkpoint_s: float = Field(default=60.0, gt=0)
    # A snapshot of the totals for `streetlight energy --since`, and how long they are kept.
    history_s: float = Field(default=3600.0, gt=0)
    history_keep_days: float = Field(default=400.0, gt=0)

    @field_validator("driver_curve")
    @classmethod
    def _curve(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        levels = [p[0] for p in value]
        if len(value) < 2 or levels[0] != 0.0 or levels[-1] != 1.0:
            raise ValueError("driver_curve needs points from level 0.0 to level 1.0")
        if any(a >= b for a, b in pairwise(levels)):
            raise ValueError("driver_curve levels must be strictly increasing")
        if any(not 0 <= p[1] <= 1.5 for p in value):
            raise ValueError("driver_curve power fractions must be within [0, 1.5]")
        return value


class SiteConfig(GatewayConfig):
    """One gateway's whole site: its own sections (``GatewayConfig``) and its street
    (``parse_config`` lays ``STREETLIGHT_MQTT__HOST=...`` env overrides over the file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    controller: ControllerConfig = ControllerConfig()
    energy: EnergyConfig = EnergyConfig()
    clusters: list[ClusterConfig] = Field(min_length=1)
    profiles: list[ProfileConfig] = Field(default_factory=list)
    quiet_hours: list[QuietHoursConfig] = Field(default_factory=list)
    storage: StorageConfig = StorageConfig()
    metrics: MetricsConfig = MetricsConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    home_assistant: HomeAssistantConfig = HomeAssistantConfig()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _semantics(self) -> SiteConfig:
        issues = list(semantic_issues(self))
        if issues:
            # Not a ValueError: pydantic lets it through with its paths intact.
            raise ConfigError("", issues)
        return self

    def all_lamps(self) -> list[ResolvedLamp]:
        """Every lamp of the site, cluster by cluster."""
        return [lamp for cluster in self.clusters for lamp in cluster.resolved_lamps()]


def parse_config(data: Any, *, source: str = "<config>") -> SiteConfig:
    """Validate a parsed YAML document (plus STREETLIGHT_* env overrides) into a SiteConfig."""
    return validate_document(SiteConfig, data, source=source)


def load_config(path: str | os.PathLike[str]) -> SiteConfig:
    """Read, parse and validate one YAML config file; raise ConfigError naming every problem."""
    return parse_config(read_yaml(Path(path), str(path)), source=str(path))


def example_config_path() -> Path:
    """The bundled example site: packaged with edge (config/site.example.yaml links to it)."""
    return Path(__file__).with_name("site.example.yaml")
