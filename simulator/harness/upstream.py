"""The upstream side of a gateway, as a fault test sees it: every record, deduplicated.

``Upstream`` subscribes to a gateway's telemetry, events, status and bridge state with a
persistent MQTT session (clean start off, a long session expiry), so a broker that is restarted
with persistence on keeps queuing for it. Records are keyed by ``(boot_id, seq)``: a record
delivered twice (at-least-once) is counted as a duplicate, not twice. ``root`` may hold a
wildcard (``streetlight/v1/+``: a central consumer of every gateway).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["Upstream", "missing_seqs"]


@dataclass
class Upstream:
    host: str
    port: int
    root: str
    client_id: str = "upstream-recorder"
    username: str | None = None
    password: str | None = None
    records: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    arrival: dict[tuple[str, int], float] = field(default_factory=dict)
    duplicates: int = 0
    #: duplicates by the gateway root they came from
    duplicates_by_root: Counter[str] = field(default_factory=Counter)
    #: every status, with its topic as ``_topic``
    status: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    #: the bridges' notifications: (arrival, topic, "0" or "1", retained: an old one)
    bridge: list[tuple[float, str, str, bool]] = field(default_factory=list)
    connects: int = 0
    _task: asyncio.Task[None] | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def _run(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        while True:
            try:
                async with aiomqtt.Client(
                    self.host, self.port, identifier=self.client_id,
                    username=self.username, password=self.password,
                    protocol=aiomqtt.ProtocolVersion.V5, clean_start=False, properties=props,
                ) as client:  # fmt: skip
                    for topic in ("telemetry/#", "event", "status", "bridge/state"):
                        await client.subscribe(f"{self.root}/{topic}", qos=1)
                    self.connects += 1
                    self.ready.set()
                    async for m in client.messages:
                        self._take(m.topic.value, m.payload, retained=bool(m.retain))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    def _take(self, topic: str, payload: Any, *, retained: bool = False) -> None:
        if topic.endswith("/bridge/state"):
            state = bytes(payload).decode(errors="replace") if payload else ""
            self.bridge.append((time.monotonic(), topic, state, retained))
            return
        try:
            body = json.loads(payload)
        except (TypeError, ValueError):
            return
        if not isinstance(body, dict):
            return
        body["_topic"] = topic
        if topic.endswith("/status"):
            self.status.append((time.monotonic(), body))
            return
        key = (str(body.get("boot_id")), int(body.get("seq", -1)))
        if key in self.records:
            self.duplicates += 1
            self.duplicates_by_root[_root_of(topic)] += 1
            return
        self.records[key] = body
        self.arrival[key] = time.monotonic()

    async def __aenter__(self) -> Upstream:
        self._task = asyncio.create_task(self._run(), name="upstream")
        async with asyncio.timeout(10):
            await self.ready.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def boots(self) -> dict[str, list[int]]:
        """Seqs received per boot id, sorted."""
        out: dict[str, list[int]] = defaultdict(list)
        for boot, seq in self.records:
            out[boot].append(seq)
        return {b: sorted(s) for b, s in out.items()}

    def energy_series(self) -> list[tuple[str, int, dict[str, Any]]]:
        """(boot_id, seq, clusters) of every energy record, in order of arrival."""
        keys = sorted(
            (k for k, r in self.records.items() if r["_topic"].endswith("/telemetry/energy")),
            key=self.arrival.__getitem__,
        )
        return [(b, s, self.records[(b, s)]["clusters"]) for b, s in keys]


def _root_of(topic: str) -> str:
    """The gateway root of a record's topic (``<root>/event``, ``<root>/telemetry/<kind>``)."""
    head, _, tail = topic.rpartition("/")
    return head if tail == "event" else head.rpartition("/")[0]


def missing_seqs(received: dict[str, list[int]], committed: dict[str, int]) -> dict[str, list[int]]:
    """Per boot, the seqs from 0 to the highest committed (or received) that never arrived."""
    out: dict[str, list[int]] = {}
    for boot in set(received) | set(committed):
        got = set(received.get(boot, []))
        top = max(committed.get(boot, -1), max(got, default=-1))
        gone = [s for s in range(top + 1) if s not in got]
        if gone:
            out[boot] = gone
    return out
