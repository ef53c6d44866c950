"""Scenario files: which site, which night, how much traffic, and which faults when."""

from __future__ import annotations

import datetime as _dt
from datetime import time
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edge.errors import ConfigError, ConfigIssue

__all__ = ["Fault", "Scenario", "bundled_scenarios", "load_scenario"]

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


class Scenario(BaseModel):
    """A night to simulate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    description: str = ""
    config: str | None = None  # site file, relative to the scenario file; None: the example
    date: _dt.date | None = None
    seed: int | None = None
    traffic_scale: float = Field(default=1.0, ge=0)
    cluster_scale: dict[str, float] = Field(default_factory=dict)
    profile: list[float] | None = Field(default=None, min_length=24, max_length=24)
    faults: list[Fault] = Field(default_factory=list)
    source: str = ""


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
