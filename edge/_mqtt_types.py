"""The MQTT session's plain types: what it hands a handler, what it counts, what it raises."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TypeVar

from edge.errors import StreetlightError

__all__ = ["DropOldest", "Inbound", "MqttStats", "NotConnectedError", "PublishTimeoutError"]

T = TypeVar("T")


class NotConnectedError(StreetlightError):
    """The session has no broker connection right now."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        super().__init__(f"not connected to the MQTT broker at {host}:{port}")


class PublishTimeoutError(StreetlightError, TimeoutError):
    """The broker did not acknowledge a QoS 1 publish in time."""

    def __init__(self, topic: str, timeout_s: float) -> None:
        self.topic, self.timeout_s = topic, timeout_s
        super().__init__(f"no PUBACK for {topic} within {timeout_s:g} s")


@dataclass(frozen=True, slots=True)
class Inbound:
    """A received message, free of aiomqtt types."""

    topic: str
    payload: bytes
    retain: bool = False
    response_topic: str | None = None
    correlation: bytes | None = None


@dataclass
class MqttStats:
    """Counters for metrics and `status`."""

    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    received: int = 0
    dropped_in: int = 0  # incoming messages dropped because the queue was full
    handler_errors: int = 0
    published: int = 0
    publish_failures: int = 0
    dead_links: int = 0  # connections given up because the broker stopped answering pings
    backpressure: int = 0  # fire-and-forget publishes refused: too many awaiting PUBACK
    last_error: str = ""
    connected_since: float = 0.0


class DropOldest(asyncio.Queue[T]):
    """The incoming messages' queue: full, it drops the oldest, and counts what it took and
    dropped in ``stats``. paho calls ``put_nowait`` from its reader callback: it never blocks
    and never raises."""

    def __init__(self, maxsize: int, stats: MqttStats) -> None:
        super().__init__(maxsize)
        self.stats = stats

    def put_nowait(self, item: T) -> None:
        if self.full():
            self.get_nowait()
            self.stats.dropped_in += 1
        self.stats.received += 1
        super().put_nowait(item)
