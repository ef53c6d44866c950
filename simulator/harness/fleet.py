"""A fleet on one machine, as a city runs one: a mosquitto per cabinet, bridged to a central one.

Each cabinet is the real `streetlight run` (a child process) on a generated site, its own
mosquitto with the shipped config/mosquitto/bridge.conf rendered for its gateway_id, a
``FaultProxy`` on its uplink, the site's lamps as lamp nodes (``LampFleet``) and its MQTT
sensors publishing a count of nobody every period. On the central broker (persistence on) an
``Upstream`` recorder keeps every record of every gateway by (boot_id, seq). ``outage`` cuts
uplinks or kills the central broker, holds it, restores it and counts, by gateway, what the
lamps and the centre saw; ``central_statuses`` is what a consumer that subscribes now gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiomqtt

from edge.clock import Clock
from edge.config import SiteConfig, parse_config
from edge.mqtt import MqttSession
from simulator.harness.broker import MosquittoBroker, free_port
from simulator.harness.daemonproc import DaemonProcess, metric, scrape_metrics, write_config
from simulator.harness.faultproxy import FaultProxy
from simulator.harness.live import LampFleet
from simulator.harness.upstream import Upstream, missing_seqs
from simulator.sites import generate_site

__all__ = [
    "NIGHT", "SHIPPED_BRIDGE", "Cabinet", "Fleet", "FleetSpec", "GatewayOutcome", "bridge_conf",
]  # fmt: skip

SHIPPED_BRIDGE = Path(__file__).resolve().parents[2] / "config" / "mosquitto" / "bridge.conf"
_SHIPPED_ID = "cabinet-0417"
NIGHT = "2026-11-28T23:30"  # UTC at the generated sites: dark
_ZERO_COUNTS = b'{"v":1,"interval_s":10}'  # a valid count of nobody


def bridge_conf(
    gateway_id: str,
    address: str,
    *,
    keepalive_s: int | None = None,
    restart_timeout: str | None = None,
) -> str:
    """The shipped bridge.conf for ``gateway_id``, to ``address`` over plain TCP (no TLS files
    in a test); keepalive and restart_timeout as shipped unless given."""
    text = SHIPPED_BRIDGE.read_text().replace(_SHIPPED_ID, gateway_id)
    text = re.sub(r"(?m)^bridge_(cafile|certfile|keyfile|insecure) .*\n", "", text)
    text = re.sub(r"(?m)^address .*$", f"address {address}", text)
    if keepalive_s is not None:
        text = re.sub(r"(?m)^keepalive_interval .*$", f"keepalive_interval {keepalive_s}", text)
    if restart_timeout is not None:
        text = re.sub(r"(?m)^restart_timeout .*$", f"restart_timeout {restart_timeout}", text)
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetSpec:
    """How many cabinets of what size, and the settings that make a short run show something."""

    gateways: int = 3
    lamps: int = 60
    telemetry_s: float = 10.0  # energy and traffic records, each
    sensor_period_s: float = 10.0  # docs/mqtt.md: sensors publish every 10 s
    lease_s: float | None = None  # None: the site's defaults
    lease_refresh_s: float | None = None
    keepalive_s: int | None = None  # None: bridge.conf as shipped
    restart_timeout: str | None = None


@dataclass(eq=False)
class Cabinet:
    """One street cabinet: its broker, uplink, daemon, lamp nodes and sensors."""

    site: SiteConfig
    broker: MosquittoBroker
    uplink: FaultProxy
    daemon: DaemonProcess
    lamps: LampFleet
    sensors: MqttSession

    @property
    def gateway_id(self) -> str:
        return self.site.gateway_id

    @property
    def root(self) -> str:
        return self.site.topic_root

    def committed(self) -> dict[str, int]:
        """The highest seq the daemon's outbox has committed, per boot."""
        with contextlib.closing(sqlite3.connect(self._outbox(), timeout=5)) as db:
            return dict(db.execute("SELECT boot_id, max(seq) FROM outbox GROUP BY boot_id"))

    def undelivered(self) -> int:
        """Records the daemon has not seen acknowledged by its cabinet broker."""
        with contextlib.closing(sqlite3.connect(self._outbox(), timeout=5)) as db:
            return int(
                db.execute("SELECT count(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0]
            )

    def _outbox(self) -> Path:
        return Path(self.site.storage.state_dir) / "outbox.db"

    def metrics(self) -> dict[str, float]:
        scrape = scrape_metrics(self.site.metrics.port)
        names = ("mqtt_connected", "upstream_up", "outbox_depth", "outbox_replayed_total")
        return {n: metric(scrape, f"streetlight_{n}") for n in names}


@dataclass(frozen=True, slots=True)
class GatewayOutcome:
    """One gateway through one outage, as its lamps and the central consumer saw it."""

    gateway_id: str
    records_during: int  # committed by the daemon while the link was down
    arrived_after: int  # of those and earlier ones, reached the centre after it came back
    missing: int  # committed before the link came back, never at the centre
    duplicates: int  # at the centre, during the outage and the recovery
    complete_after_s: float | None  # from the link's return to the last of them at the centre
    leases_during: int  # leases the cabinet's lamp nodes took while the link was down
    max_lamps_without_lease: int  # the most lamps of the cabinet in failsafe at one time
    bridge_down_seen: bool  # the centre saw this cabinet's bridge go down ("0", its Will)


@dataclass(eq=False)
class Fleet:
    """``async with Fleet(work, spec) as fleet``: everything started, leased and bridged."""

    work: Path
    spec: FleetSpec
    central: MosquittoBroker = field(init=False)
    consumer: Upstream = field(init=False)
    cabinets: list[Cabinet] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def __aenter__(self) -> Fleet:
        # Persistence with a 1 s autosave: the consumer's session outlives a SIGKILL.
        self.central = MosquittoBroker(
            self.work / "central", persistent=True, extra_conf="autosave_interval 1\n"
        )
        self.central.start()
        try:
            self.consumer = Upstream(self.central.host, self.central.port, "streetlight/v1/+",
                                     client_id="central-consumer")  # fmt: skip
            await self.consumer.__aenter__()
            for i in range(self.spec.gateways):
                self.cabinets.append(await self._cabinet(f"gw-{i:03d}"))
            await asyncio.gather(*(c.daemon.start() for c in self.cabinets))
            await self._until_ready(timeout=120)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_daemons()
        for c in self.cabinets:  # a clean goodbye, not a "connection lost" at cancellation
            for session in (c.lamps.session, c.sensors):
                with contextlib.suppress(Exception):
                    await session.disconnect()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(AttributeError):
            await self.consumer.__aexit__()
        for c in self.cabinets:
            await c.uplink.stop()
            c.broker.stop()
        self.central.stop()

    async def stop_daemons(self) -> list[int | None]:
        """SIGTERM every daemon (its final drain), then give the bridges a moment."""
        codes = [await c.daemon.stop() for c in self.cabinets]
        await asyncio.sleep(2)
        return codes

    async def _cabinet(self, gateway_id: str) -> Cabinet:
        spec, work = self.spec, self.work / gateway_id
        uplink = FaultProxy(self.central.host, self.central.port)
        await uplink.start()
        conf = bridge_conf(gateway_id, f"127.0.0.1:{uplink.port}", keepalive_s=spec.keepalive_s,
                           restart_timeout=spec.restart_timeout)  # fmt: skip
        broker = MosquittoBroker(work / "mosquitto", extra_conf=conf)
        broker.start()
        doc = generate_site(lamps=spec.lamps, gateway_id=gateway_id, mqtt_port=broker.port)
        root = f"streetlight/v1/{gateway_id}"
        doc["mqtt"].update(upstream_state_topic=f"{root}/bridge/state", reconnect_max_s=2)
        doc["storage"] = {"state_dir": str(work / "state")}
        doc["metrics"] = {"enabled": True, "host": "127.0.0.1", "port": free_port()}
        doc["telemetry"] = {"energy_s": spec.telemetry_s, "traffic_s": spec.telemetry_s}
        doc["log_level"] = "WARNING"
        if spec.lease_s is not None:
            doc.setdefault("controller", {})["lease_s"] = spec.lease_s
        if spec.lease_refresh_s is not None:
            doc.setdefault("controller", {})["lease_refresh_s"] = spec.lease_refresh_s
        site = parse_config(doc)
        config = write_config(site, work / "site.yaml")
        daemon = DaemonProcess(config, log_path=work / "daemon.log", virtual_start=NIGHT)
        start = datetime.fromisoformat(NIGHT + "+00:00").timestamp()
        lamps = LampFleet(site, host=broker.host, port=broker.port,
                          clock=Clock(start=start), meters=False)  # fmt: skip
        sensors = MqttSession(
            host=broker.host, port=broker.port, client_id=f"sim-sensors-{gateway_id}",
            reconnect_max_s=2.0,
        )  # fmt: skip
        cabinet = Cabinet(site, broker, uplink, daemon, lamps, sensors)
        self._tasks += [
            asyncio.create_task(lamps.run(), name=f"lamps {gateway_id}"),
            asyncio.create_task(sensors.run(), name=f"sensors-mqtt {gateway_id}"),
            asyncio.create_task(self._count_nobody(cabinet), name=f"sensors {gateway_id}"),
        ]
        return cabinet

    async def _count_nobody(self, cabinet: Cabinet) -> None:
        topics = [
            f"{cabinet.root}/sensor/{s.id}/counts"
            for c in cabinet.site.clusters
            for s in c.sensors
            if s.source == "mqtt"
        ]
        while True:
            if cabinet.sensors.is_connected:
                for topic in topics:
                    cabinet.sensors.publish_nowait(topic, _ZERO_COUNTS, qos=0)
            await asyncio.sleep(self.spec.sensor_period_s)

    async def _until_ready(self, *, timeout: float) -> None:
        """Every daemon connected with its bridge up, every lamp leased, every status central."""

        def ready(c: Cabinet) -> bool:
            with contextlib.suppress(OSError):
                m = c.metrics()
                leased = not c.lamps.in_failsafe().any()
                return m["mqtt_connected"] == 1 and m["upstream_up"] == 1 and leased
            return False

        async with asyncio.timeout(timeout):
            while True:  # another process's state, read over HTTP: polled
                if all([*map(ready, self.cabinets), self._statuses_seen()]):
                    return
                await asyncio.sleep(0.5)

    def _statuses_seen(self) -> bool:
        online = {s["_topic"] for _, s in self.consumer.status if s.get("state") == "online"}
        return online >= {f"{c.root}/status" for c in self.cabinets}

    def received(self, boot: str) -> list[int]:
        return self.consumer.boots().get(boot, [])

    async def outage(
        self, *, cut: Callable[[], None], restore: Callable[[], None], seconds: float,
        recover_timeout: float = 180.0,
    ) -> list[GatewayOutcome]:  # fmt: skip
        """``cut()``, hold ``seconds``, ``restore()``, and wait until every record committed
        before the restore has reached the centre (or ``recover_timeout``)."""
        before = [c.committed() for c in self.cabinets]
        leases0 = [c.lamps.leases for c in self.cabinets]
        dups0 = dict(self.consumer.duplicates_by_root)
        bridge0 = len(self.consumer.bridge)
        worst = [0] * len(self.cabinets)
        cut()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for i, c in enumerate(self.cabinets):
                worst[i] = max(worst[i], int(c.lamps.in_failsafe().sum()))
            await asyncio.sleep(0.5)
        restore()
        back = time.monotonic()
        targets = [c.committed() for c in self.cabinets]
        leases = [c.lamps.leases - n for c, n in zip(self.cabinets, leases0, strict=True)]
        done: dict[int, float] = {}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(recover_timeout):
                while len(done) < len(self.cabinets):
                    for i, target in enumerate(targets):
                        got = {b: self.received(b) for b in target}
                        if i not in done and not missing_seqs(got, target):
                            done[i] = time.monotonic() - back
                    await asyncio.sleep(0.2)
        # live ones only: a retained "0" may be one a restarted broker kept from before
        downs = {t for _, t, s, old in self.consumer.bridge[bridge0:] if s == "0" and not old}
        out = []
        for i, c in enumerate(self.cabinets):
            target, got = targets[i], {b: self.received(b) for b in targets[i]}
            late = [
                (b, s) for (b, s), t in self.consumer.arrival.items()
                if t >= back and s <= target.get(b, -1)
            ]  # fmt: skip
            out.append(GatewayOutcome(
                gateway_id=c.gateway_id,
                records_during=sum(s - before[i].get(b, -1) for b, s in target.items()),
                arrived_after=len(late),
                missing=sum(map(len, missing_seqs(got, target).values())),
                duplicates=self.consumer.duplicates_by_root[c.root] - dups0.get(c.root, 0),
                complete_after_s=done.get(i),
                leases_during=leases[i],
                max_lamps_without_lease=worst[i],
                bridge_down_seen=f"{c.root}/bridge/state" in downs,
            ))  # fmt: skip
        return out

    async def central_statuses(self, settle_s: float = 1.5) -> dict[str, dict[str, Any]]:
        """What a consumer subscribing to every status at the centre now gets, by topic."""
        seen: dict[str, dict[str, Any]] = {}
        async with aiomqtt.Client(self.central.host, self.central.port,
                                  protocol=aiomqtt.ProtocolVersion.V5) as client:  # fmt: skip
            await client.subscribe("streetlight/v1/+/status", qos=1)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(settle_s):
                    async for m in client.messages:
                        if isinstance(m.payload, bytes | bytearray):
                            seen[m.topic.value] = json.loads(m.payload)
        return seen
