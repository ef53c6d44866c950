"""The daemon as its consumers see it: each gets a typed view of exactly what it reads and
calls (the commands, the Home Assistant adapter), so none of them reaches into the rest of
the daemon, and the daemon can change behind them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from edge.auth import TokenBucket
from edge.clock import Clock
from edge.config import SiteConfig
from edge.control import DimmingController
from edge.daemon._ingest import Ingest
from edge.daemon._publish import EnergyTotals
from edge.metrics import Metrics
from edge.mqtt import MqttSession
from edge.outbox import Outbox
from edge.state import StateStore

__all__ = ["CommandHost", "CommandSink", "DaemonStats", "HomeAssistantHost", "RunStats"]


@dataclass
class DaemonStats:
    """The run's own counters (what ``status`` reports; the metrics carry the same)."""

    ticks: int = 0
    presence_steps: int = 0  # steps between ticks for road users just counted
    overruns: int = 0
    leases: int = 0
    lease_failures: int = 0
    started_at: float = field(default_factory=time.time)


class RunStats(Protocol):
    """The run's counters as a command reads them."""

    @property
    def ticks(self) -> int: ...
    @property
    def presence_steps(self) -> int: ...
    @property
    def overruns(self) -> int: ...
    @property
    def started_at(self) -> float: ...


class CommandHost(Protocol):
    """The running daemon as the commands see it: what they read, the policy they change and
    where they report. Typed here, so a command reaches nothing else of the daemon."""

    @property
    def site(self) -> SiteConfig: ...
    @property
    def root(self) -> str: ...
    @property
    def boot_id(self) -> str: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def stats(self) -> RunStats: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def state(self) -> StateStore: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def ingest(self) -> Ingest: ...
    @property
    def energy(self) -> EnergyTotals: ...
    @property
    def controller(self) -> DimmingController: ...
    @property
    def mqtt(self) -> MqttSession: ...
    def record_event(self, **fields: Any) -> None: ...
    def overrides_changed(self) -> None: ...
    def count_ingest(self, source: str, kind: str, result: str) -> None: ...


class CommandSink(Protocol):
    """Where a light's command goes: the daemon's own override and clear, under its rate
    limit."""

    @property
    def bucket(self) -> TokenBucket: ...
    def override(self, args: dict[str, Any]) -> dict[str, Any]: ...
    def clear(self, args: dict[str, Any]) -> dict[str, Any]: ...


class HomeAssistantHost(Protocol):
    """The running daemon as the adapter sees it: the policy to read, the broker to publish
    to, the command sink, and a counter for what arrives. Nothing else."""

    @property
    def site(self) -> SiteConfig: ...
    @property
    def root(self) -> str: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def controller(self) -> DimmingController: ...
    @property
    def energy(self) -> EnergyTotals: ...
    @property
    def mqtt(self) -> MqttSession: ...
    @property
    def commands(self) -> CommandSink: ...
    def count_ingest(self, source: str, kind: str, result: str) -> None: ...
