"""Scenario files: which site, which night, how much traffic, and which faults when."""

from __future__ import annotations

import datetime as _dt
from datetime import time
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edge.errors import ConfigError, ConfigIssue
from simulator.street import SensorModel
from simulator.traffic import TrafficModel

__all__ = [
    "Fault",
    "LingerConfig",
    "Scenario",
    "SensorsConfig",
    "bundled_scenarios",
    "load_scenario",
]

SCENARIO_DIR = Path(__file__).with_name("scenarios")

FaultKind = Literal[
    "sensor_dead", "sensor_stuck", "sensor_noisy", "sensor_late", "lamp_failure", "day_burner"
]


class Fault(BaseModel):
    """From ``at`` (local time; None = the whole night) ``kind`` hits a sensor or a lamp."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    at: time | None = None
    sensor: str | None = None
    lamp: str | None = None
    delay_s: float = Field(default=20.0, ge=0)  # sensor_late
    rate_per_h: float = Field(default=60.0, ge=0)  # sensor_noisy: phantom road users per hour

    @field_validator("at", mode="before")
    @classmethod
    def _hhmm(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return time(value // 60 % 24, value % 60)  # YAML 1.1 reads 02:00 as 120
        return value


class SensorsConfig(BaseModel):
    """How the sensor nodes fall short (``SensorModel``); every field switchable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    radar_miss: float = Field(default=SensorModel().radar_miss, ge=0, le=1)
    pir_miss: float = Field(default=SensorModel().pir_miss, ge=0, le=1)
    speed_noise: float = Field(default=SensorModel().speed_noise, ge=0, le=1)
    latency_s: tuple[float, float] = SensorModel().latency_s

    @field_validator("latency_s")
    @classmethod
    def _span(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= value[0] <= value[1] <= 60:
            raise ValueError("latency_s is [low, high] seconds, 0 <= low <= high <= 60")
        return value


class LingerConfig(BaseModel):
    """A share of pedestrians stops once on the way, for ``min_s`` to ``max_s``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    share: float = Field(default=TrafficModel().linger_share, ge=0, le=1)
    min_s: float = Field(default=TrafficModel().linger_s[0], ge=0)
    max_s: float = Field(default=TrafficModel().linger_s[1], ge=0)


class Scenario(BaseModel):
    """A night to simulate: the street's traffic, its sensors' shortcomings and its faults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    description: str = ""
    config: str | None = None  # site file, relative to the scenario file; None: the example
    date: _dt.date | None = None
    seed: int | None = None
    traffic_scale: float = Field(default=1.0, ge=0)
    cluster_scale: dict[str, float] = Field(default_factory=dict)
    # 24 hourly weights (1.0: the weekday peak) for every day; None: the published shape
    profile: list[float] | None = Field(default=None, min_length=24, max_length=24)
    season: bool = True
    # share of road users coming on mid-road, by road type; None: the defaults
    mid_road: dict[str, float] | None = None
    linger: LingerConfig = LingerConfig()
    # "realistic" (the default SensorModel), "ideal", or a SensorModel's fields
    sensors: Literal["realistic", "ideal"] | SensorsConfig = "realistic"
    faults: list[Fault] = Field(default_factory=list)
    source: str = ""

    def traffic_model(self) -> TrafficModel:
        default = TrafficModel()
        return TrafficModel(
            scale=self.traffic_scale,
            cluster_scale=dict(self.cluster_scale),
            profile=tuple(self.profile) if self.profile else None,
            season=self.season,
            mid_road=dict(self.mid_road) if self.mid_road is not None else default.mid_road,
            linger_share=self.linger.share,
            linger_s=(self.linger.min_s, max(self.linger.min_s, self.linger.max_s)),
        )

    def sensor_model(self) -> SensorModel:
        if self.sensors == "ideal":
            return SensorModel.ideal()
        if self.sensors == "realistic":
            return SensorModel()
        return SensorModel(**self.sensors.model_dump())


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario YAML; problems are ConfigErrors naming the key (exit code 2)."""
    source = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(source, [ConfigIssue("", "file not found")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [ConfigIssue("", f"YAML syntax: {exc}")]) from None
    if isinstance(data, dict) and data.get("config"):
        data["config"] = str((Path(path).parent / str(data["config"])).resolve())
    try:
        return Scenario.model_validate({**data, "source": source})
    except ValidationError as err:
        issues = [
            ConfigIssue(".".join(str(p) for p in e["loc"]), str(e["msg"]))
            for e in err.errors(include_url=False)
        ]
        raise ConfigError(source, issues) from None


def bundled_scenarios() -> dict[str, Path]:
    """The scenarios shipped in simulator/scenarios, by file stem."""
    return {p.stem: p for p in sorted(SCENARIO_DIR.glob("*.yaml"))}
