"""Results of the commands on ``<root>/cmd/<verb>`` that report the gateway's state: one
typed model each, built by the daemon and read by the CLI (docs/cli.md shows them).

A reader tolerates fields it does not know (a newer daemon may add some); the daemon fills
every field it has.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

__all__ = [
    "MAX_NAMED_LAMPS",
    "ClusterRow",
    "ClustersResult",
    "LampRow",
    "LampsResult",
    "SensorProblem",
    "SerialLinkRow",
    "StatusResult",
    "dump",
]

#: the most lamp ids a cluster row names (a cluster may have thousands)
MAX_NAMED_LAMPS = 10


class _Reply(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class SensorProblem(_Reply):
    """A sensor that keeps its cluster in fail-safe, and since when."""

    id: str
    problem: Literal["silent", "faulty"]
    last_seen: float  # its last report, Unix time (the daemon's start if it never reported)
    silent_s: float = Field(ge=0)
    reason: str = ""  # what a faulty sensor said of itself
    source: str  # "mqtt", or "serial <port> node <n>": where to look


class ClusterRow(_Reply):
    """One cluster: flow, class, level, power; fail-safe and why."""

    id: str
    lamps: int = Field(ge=0)
    flow_per_h: float
    lighting_class: str = Field(
        validation_alias=AliasChoices("class", "lighting_class"), serialization_alias="class"
    )
    rated_class: str
    level: float
    power_w: float
    failsafe: bool
    faulty_lamps: int = Field(ge=0)
    # why ``failsafe``: its sensors silent past stale_s or flagged faulty
    failsafe_sensors: list[SensorProblem] = Field(default_factory=list)
    # lamps whose node reports it holds no valid lease (at its own failsafe level)
    lease_lapsed: int = Field(default=0, ge=0)
    lease_lapsed_ids: list[str] = Field(default_factory=list, max_length=MAX_NAMED_LAMPS)


class SerialLinkRow(_Reply):
    port: str
    up: bool
    frames_ok: int = Field(ge=0)
    rejected: int = Field(ge=0)


class StatusResult(_Reply):
    """``status``: the gateway at a glance."""

    gateway_id: str
    online: bool
    version: str
    boot_id: str
    uptime_s: float
    night: bool
    broker: str
    serial: list[SerialLinkRow]
    clusters: list[ClusterRow]
    outbox_depth: int = Field(ge=0)
    ticks: int = Field(ge=0)
    presence_steps: int = Field(ge=0)
    tick_overruns: int = Field(ge=0)
    overrides: int = Field(ge=0)
    stale_s: float  # a sensor silent this long puts its cluster in fail-safe
    lease_s: float  # how long a lamp holds a lease


class ClustersResult(_Reply):
    """``clusters``: the cluster rows of ``status``."""

    clusters: list[ClusterRow]


class LampRow(_Reply):
    """One lamp: the policy's level and target, and what its node last reported."""

    id: str
    cluster: str
    level: float
    target: float
    lease_age_s: float | None
    power_w: float  # what the node reports, or the model where it reports no power
    modelled_power_w: float  # nominal power through the driver curve at ``level``
    reported_power_w: float | None  # the node's own figure (null until it reports one)
    reported_level: float | None
    faults: list[str]


class LampsResult(_Reply):
    lamps: list[LampRow]


def dump(result: BaseModel) -> dict[str, object]:
    """As sent: field names as in docs/cli.md (``class``, not ``lighting_class``)."""
    return result.model_dump(mode="json", by_alias=True)
