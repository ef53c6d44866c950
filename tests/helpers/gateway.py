"""A whole gateway for tests: the example site on a private broker, a pty, a virtual night."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiomqtt

from edge.clock import Clock
from edge.config import SiteConfig, example_config_path, load_config
from edge.daemon import Daemon
from simulator.harness.firmware import FakeBus, FakeNode
from simulator.harness.live import LampFleet

#: A winter night at the example site: always dark, whatever time the test runs.
NIGHT = datetime(2026, 11, 28, 23, 30, tzinfo=ZoneInfo("Europe/Amsterdam")).timestamp()

FAST_CONTROLLER = """
controller:
  tick_s: 1.0
  flow_window_s: 60
  flow_bins: 6
  presence: {m_steps_up: 3, lead_s: 8, min_lamps_ahead: 3, behind_m: 30, hold_s: 10, track_s: 0,
             entry_s: 0}
  ramp_up_per_s: 1.0
  ramp_down_per_s: 0.25
  stale_s: 300
  deadband: 0.05
  lease_s: 90
  lease_refresh_s: 30
telemetry: {energy_s: 5, traffic_s: 10}
"""


def write_site(
    tmp: Path, *, port: int, device: str = "/dev/null-streetlight", extra: str = ""
) -> Path:
    """The example site, pointed at ``port`` and ``device``, state under ``tmp``."""
    text = example_config_path().read_text()
    text = text.replace("/dev/streetlight-radar", device)
    text = re.sub(
        r"(mqtt:\n  host: 127.0.0.1\n  port: )\d+", rf"\g<1>{port}\n  reconnect_max_s: 5", text
    )
    text = re.sub(r"state_dir: .*", f"state_dir: {tmp / 'state'}", text)
    text = re.sub(r"(metrics:\n(?:  .*\n)*?  port: )\d+", r"\g<1>0", text)
    text = re.sub(r"\ncontroller:\n(?:  .*\n)+", "\n", text)
    path = tmp / "site.yaml"
    path.write_text(text + FAST_CONTROLLER + extra)
    return path


class SteppedClock(Clock):
    """A virtual clock whose wall time can be set like a real one (``offset``); its monotonic
    time cannot."""

    def __init__(self, *, start: float, speed: float = 10.0) -> None:
        super().__init__(speed=speed, start=start)
        self.offset = 0.0

    def time(self) -> float:
        return super().time() + self.offset

    def readings(self) -> tuple[float, float]:
        wall, mono = super().readings()
        return wall + self.offset, mono


@dataclass
class Gateway:
    site: SiteConfig
    daemon: Daemon
    fleet: LampFleet
    node: FakeNode | None
    clock: Clock
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def lamp_level(self, lamp: str) -> float:
        return float(self.fleet.output[self.fleet.index[lamp]])

    def lamp_peak(self, lamp: str) -> float:
        """The highest level the lamp node was leased since the fleet's last reset_peak()."""
        return float(self.fleet.peak[self.fleet.index[lamp]])

    async def until(self, check: Any, timeout: float = 10.0, what: str = "condition") -> None:
        """Poll ``check()`` until true (real seconds)."""
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_gateway(
    config: Path,
    *,
    speed: float = 10.0,
    node_fd: int | None = None,
    fleet_port: int | None = None,
    clock: Clock | None = None,
    meters: bool = True,
    bus: tuple[FakeNode, ...] = (),
) -> AsyncIterator[Gateway]:
    """Daemon + MQTT lamp fleet (+ a fake serial node on ``node_fd``, with the nodes of
    ``bus`` on the same line) on one virtual clock (``clock``, or one at ``speed`` from NIGHT).

    The fleet connects to ``fleet_port`` when given (the broker itself, when the daemon's
    config points at a fault proxy); its lamps report their energy counters if ``meters``."""
    site = load_config(config)
    clock = clock or Clock(speed=speed, start=NIGHT)
    daemon = Daemon(site, config_path=config, clock=clock)
    port = fleet_port or site.mqtt.port
    fleet = LampFleet(site, host=site.mqtt.host, port=port, clock=clock, report_s=5, meters=meters)
    node = FakeNode(node=1) if node_fd is not None else None
    gw = Gateway(site=site, daemon=daemon, fleet=fleet, node=node, clock=clock)
    async with asyncio.TaskGroup() as tg:
        run = tg.create_task(daemon.run(), name="daemon")
        extras = [tg.create_task(fleet.run(tick_s=0.5), name="fleet")]
        if node is not None and node_fd is not None:
            line = FakeBus(node, *bus)
            extras.append(tg.create_task(line.serve_pty(node_fd), name="fake-node"))
        try:
            yield gw
        finally:
            daemon.stop()
            await run
            for task in extras:
                task.cancel()


class Recorder:
    """A subscriber that keeps every message of a topic filter."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        self.host, self.port, self.topic = host, port, topic
        self.messages: list[tuple[str, dict[str, Any] | bytes, bool]] = []
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    self.host, self.port, protocol=aiomqtt.ProtocolVersion.V5
                ) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.ready.set()
                    async for m in client.messages:
                        raw = bytes(m.payload) if isinstance(m.payload, bytes | bytearray) else b""
                        try:
                            body: dict[str, Any] | bytes = json.loads(raw)
                        except ValueError:
                            body = raw
                        self.messages.append((m.topic.value, body, bool(m.retain)))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)

    async def __aenter__(self) -> Recorder:
        self._task = asyncio.create_task(self._run(), name=f"recorder {self.topic}")
        async with asyncio.timeout(10):
            await self.ready.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def of(self, suffix: str) -> list[dict[str, Any]]:
        return [b for t, b, _ in self.messages if t.endswith(suffix) and isinstance(b, dict)]

    async def until(self, check: Any, timeout: float = 10.0) -> None:
        """Poll ``check()`` until true (real seconds): what was published may still be on its
        way through the broker."""
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.05)
