"""The simulated street in (virtual) real time, talking to a running daemon like the real one.

``LampFleet``: every MQTT lamp of a site as a lamp node (a serial lamp is a ``FakeNode``). It
obeys leases by the lamp-node rules of docs/mqtt.md (no retained lease; while a lease is in
force only a newer seq, and not one more than ``SEQ_WINDOW`` ahead; held for ``valid_for_s``,
at most ``MAX_LEASE_S``), fades as a driver does, falls back to its failsafe level when a lease
lapses, and reports its state (retained) on ``<root>/lamp/<id>/state``. A node keeps its own
time (``now``): the gateway's wall time when the fleet starts, then as the node's own
oscillator counts, so a step of the gateway's clock does not reach it, as it would not reach a
lamp on a street.

``LiveStreet``: road users moving along the roads, counted by the site's sensors; an MQTT
sensor publishes ``<root>/sensor/<id>/counts``, a serial one sends COUNTS frames through a
``FakeNode`` on a pty (one per serial port, speaking for every node on that bus).

Both read time from the daemon's ``Clock``, so the demo can run a night faster than real time.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter, deque
from dataclasses import dataclass

import numpy as np

from edge.clock import Clock
from edge.config import SiteConfig
from edge.control import DriverCurve
from edge.mqtt import Inbound, MqttSession
from edge.payloads import ClusterLeasePayload, LeasePayload, PayloadError
from edge.site import CoreSite
from firmware_bridge.frames import Counts
from simulator.harness.firmware import FakeNode
from simulator.lamps import LampNodes
from simulator.street import SensorBank, SensorModel
from simulator.traffic import Arrivals
from simulator.users import RoadUsers

__all__ = ["MAX_LEASE_S", "SEQ_WINDOW", "LampFleet", "LiveStreet", "StreetStats"]

log = logging.getLogger("streetlight.sim.live")

# A lease seq more than this ahead of the one in force is refused: 2^40 ms is 35 years, more
# than a daemon restart ever jumps (its seqs restart at the wall clock in ms).
SEQ_WINDOW = 2**40
# A node holds one lease for at most this long, however long the lease says (the daemon's
# leases are lease_s, 90 s by default).
MAX_LEASE_S = 600.0


class LampFleet:
    """Every MQTT lamp of ``site`` as a lamp node."""

    def __init__(
        self,
        site: SiteConfig,
        *,
        host: str,
        port: int,
        clock: Clock,
        report_s: float = 10.0,
        failsafe_level: float = 1.0,
        meters: bool = True,
    ) -> None:
        core = CoreSite.of(site)
        spec = core.spec
        self.clock, self.report_s, self.root = clock, report_s, site.topic_root
        self.epoch = clock.time() - clock.monotonic()
        serial = {lamp.id for c in site.clusters for lamp in c.lamps if lamp.source == "serial"}
        mqtt = np.array([lamp not in serial for lamp in spec.lamps.ids], dtype=bool)
        self.ids = [
            lamp for lamp in spec.lamps.ids if lamp not in serial
        ]  # behind serial: not ours
        self.index = {lamp: j for j, lamp in enumerate(self.ids)}
        self.floor = (spec.lamps.floor * spec.lamps.clo)[mqtt]
        self.nodes = LampNodes(
            nominal_w=spec.lamps.nominal_w[mqtt],
            curve=DriverCurve(core.params.energy),
            failsafe_level=failsafe_level,
        )
        self.lease_seq = np.full(len(self.ids), -1, dtype=np.int64)
        # Each node's energy counter (a D4i driver's), Wh since the fleet started; reported
        # as energy_wh when ``meters``.
        self.meters = meters
        self.meter_wh = np.zeros(len(self.ids))
        # the latest reports' times (the fleet's clock) and the counters' sum each carried
        self.reported_wh: deque[tuple[float, float]] = deque(maxlen=64)
        # the highest level each lamp was leased since start or reset_peak(): a boost held
        # for a second of wall time is on record even if nobody looked during it
        self.peak = np.zeros(len(self.ids))
        self.leases = 0
        self.rejected = 0
        self.refused: Counter[str] = Counter()  # by reason: the rejected ones
        self.messages: Counter[str] = Counter()  # lease messages by topic: lamp or cluster
        # faults staged by a test: a failed lamp reports no light and no power; a deaf node
        # takes no lease, so its lease lapses and it falls back to its failsafe level
        self.failed: dict[int, str] = {}
        self.deaf: set[int] = set()
        self.session = MqttSession(
            host=host,
            port=port,
            client_id=f"sim-lamps-{site.gateway_id}",
            subscriptions=[(f"{self.root}/lamp/+/set", 1), (f"{self.root}/cluster/+/set", 1)],
            handler=self._on_set,
            reconnect_max_s=2.0,  # simulated nodes come back quickly after a broker restart
        )

    def _refuse(self, reason: str) -> None:
        self.rejected += 1
        self.refused[reason] += 1

    def _on_set(self, msg: Inbound) -> None:
        """A lease for one lamp (``lamp/<id>/set``), or for lamps of a cluster
        (``cluster/<id>/set``): each lamp takes its own by the same rules."""
        group, name = msg.topic.rsplit("/", 3)[-3:-1]
        self.messages[group] += 1
        if msg.retain:  # published once, replayed at every (re)subscribe: never a lease
            self._refuse("retained")
            return
        if group == "cluster":
            try:
                many = ClusterLeasePayload.model_validate_json(msg.payload)
            except (ValueError, PayloadError):
                self._refuse("invalid")
                return
            now = self.now()
            for lamp, level in many.levels.items():
                self._take(lamp, level, many.valid_for_s, many.seq, now)
            return
        try:
            lease = LeasePayload.model_validate_json(msg.payload)
        except (ValueError, PayloadError):
            self._refuse("invalid")
            return
        self._take(name, lease.level, lease.valid_for_s, lease.seq, self.now())

    def fail(self, lamp: str, fault: str = "lamp_failure") -> None:
        """From now on ``lamp`` reports ``fault``, no light and no power."""
        self.failed[self.index[lamp]] = fault

    def ignore_leases(self, lamp: str) -> None:
        """From now on ``lamp``'s node takes no lease (a node that no longer hears them)."""
        self.deaf.add(self.index[lamp])

    def _take(self, lamp: str, level: float, valid_for_s: float, seq: int, now: float) -> None:
        j = self.index.get(lamp)
        if j is not None and j in self.deaf:
            return
        if j is None:
            self._refuse("unknown_lamp")
            return
        if now < self.nodes.lease_until[j]:  # order counts while a lease is in force
            if seq <= self.lease_seq[j]:
                self._refuse("stale")  # a duplicate or an older lease
                return
            if seq - self.lease_seq[j] > SEQ_WINDOW:
                self._refuse("seq_jump")
                return
        self.lease_seq[j] = seq
        self.peak[j] = max(self.peak[j], level)
        self.leases += 1
        idx = np.array([j])
        self.nodes.apply(now, idx, np.array([level]), min(valid_for_s, MAX_LEASE_S))

    def now(self) -> float:
        """The nodes' time: leases are held and lapse by it."""
        return self.epoch + self.clock.monotonic()

    def reset_peak(self) -> None:
        self.peak.fill(0.0)

    @property
    def output(self) -> np.ndarray:
        return self.nodes.output

    def in_failsafe(self) -> np.ndarray:
        return self.now() >= self.nodes.lease_until

    async def run(self, tick_s: float = 0.5) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.session.run(), name="sim-lamps-mqtt")
            tg.create_task(self._loop(tick_s), name="sim-lamps")

    async def _loop(self, tick_s: float) -> None:
        last = self.now()
        next_report = last
        while True:
            await self.clock.sleep(tick_s)
            now = self.now()
            self.meter_wh += self.nodes.power_w * ((now - last) / 3600.0)
            self.nodes.tick(now, now - last)
            last = now
            if now >= next_report and self.session.is_connected:
                next_report = now + self.report_s
                self._report(now)

    def _report(self, now: float) -> None:
        failsafe = now >= self.nodes.lease_until
        left = np.maximum(self.nodes.lease_until - now, 0.0)
        for j, lamp in enumerate(self.ids):
            state = {
                "v": 1,
                "level": round(float(self.nodes.output[j]), 4),
                "power_w": round(float(self.nodes.power_w[j]), 2),
                "faults": ["failsafe"] if failsafe[j] else [],
                "lease_left_s": round(float(left[j]), 1),
            }
            if j in self.failed:
                state.update(level=0.0, power_w=0.0, faults=[self.failed[j]])
            if self.meters:
                state["energy_wh"] = round(float(self.meter_wh[j]), 4)
            self.session.publish_nowait(
                f"{self.root}/lamp/{lamp}/state", json.dumps(state).encode(), qos=0, retain=True
            )
        if self.meters:
            self.reported_wh.append((now, float(self.meter_wh.sum())))


@dataclass
class StreetStats:
    users: int = 0
    reports: int = 0
    mqtt_reports: int = 0
    serial_reports: int = 0


class LiveStreet:
    """Road users and sensors; counts out over MQTT and serial."""

    def __init__(
        self,
        site: SiteConfig,
        *,
        host: str,
        port: int,
        clock: Clock,
        arrivals: Arrivals,
        start: float,
        serial_nodes: dict[str, FakeNode] | None = None,
        seed: int = 1,
        report_s: float = 10.0,
    ) -> None:
        self.site, self.clock, self.arrivals, self.start = site, clock, arrivals, start
        self.spec = CoreSite.of(site).spec
        self.root = site.topic_root
        # ideal sensors: what the daemon is sent is exactly who passed (the tests count on it)
        self.sensors = SensorBank(
            site=self.spec, seed=seed, report_s=report_s,
            model=SensorModel.ideal(),
        )  # fmt: skip
        by_id = {s.id: s for c in site.clusters for s in c.sensors}
        self.sensor_cfg = [by_id[i] for i in self.sensors.ids]
        self.serial_nodes = serial_nodes or {}
        self.lengths = np.array([c.length_m for c in self.spec.clusters])
        self.users = RoadUsers(arrivals, self.lengths)
        self.stats = StreetStats()
        self.session = MqttSession(
            host=host, port=port, client_id=f"sim-sensors-{site.gateway_id}", reconnect_max_s=2.0
        )

    def positions(self) -> list[tuple[int, float, int]]:
        """(cluster, position, direction) of every road user on the road now."""
        a, users = self.arrivals, self.users
        return [
            (int(a.cluster[u]), float(p), int(a.direction[u]))
            for u, p in zip(users.active.tolist(), users.pos.tolist(), strict=True)
        ]

    async def run(self, tick_s: float = 0.5) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.session.run(), name="sim-sensors-mqtt")
            tg.create_task(self._loop(tick_s), name="sim-street")

    async def _loop(self, tick_s: float) -> None:
        last = self.clock.time()
        while True:
            await self.clock.sleep(tick_s)
            now = self.clock.time()
            self.step(now, now - last)
            last = now

    def step(self, now: float, dt: float) -> None:
        """Move road users on, let them in, count crossings, send what the sensors report."""
        a = self.arrivals
        before = self.users.entered
        moves = self.users.advance(now - self.start, dt)
        self.stats.users += self.users.entered - before
        u = moves.users
        self.sensors.detect(now, self.start + moves.since, moves.prev, moves.new, a.cluster[u],
                            a.direction[u], a.kind[u], a.speed_mps[u], u)  # fmt: skip
        batch = self.sensors.collect(now, dt)
        if batch is not None:
            self._send(batch)

    def _send(self, batch: object) -> None:
        from edge.control import CountsBatch

        assert isinstance(batch, CountsBatch)
        index = {s: i for i, s in enumerate(self.sensors.ids)}
        for row, sensor in enumerate(batch.sensors):
            cfg = self.sensor_cfg[index[sensor]]
            fwd = [int(x) for x in batch.forward[row]]
            bwd = [int(x) for x in batch.backward[row]]
            speed = float(batch.mean_speed_mps[row])
            self.stats.reports += 1
            if cfg.source == "serial" and cfg.port in self.serial_nodes:
                node = self.serial_nodes[cfg.port]
                node.send(
                    Counts(
                        node=cfg.node or 0,
                        sensor=cfg.channel,
                        interval_ms=max(1, round(float(batch.interval_s[row]) * 1000)),
                        forward=tuple(fwd),
                        backward=tuple(bwd),
                        mean_speed_cms=round(speed * 100) if speed > 0 else None,
                    )
                )
                self.stats.serial_reports += 1
            elif cfg.source == "mqtt":
                kinds = ("car", "bike", "pedestrian")
                payload = {
                    "v": 1,
                    "interval_s": round(max(float(batch.interval_s[row]), 0.001), 3),
                    "forward": dict(zip(kinds, fwd, strict=True)),
                    "backward": dict(zip(kinds, bwd, strict=True)),
                }
                if speed > 0:
                    payload["mean_speed_mps"] = round(speed, 2)
                self.session.publish_nowait(
                    f"{self.root}/sensor/{sensor}/counts", json.dumps(payload).encode()
                )
                self.stats.mqtt_reports += 1
