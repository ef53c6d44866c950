"""Prometheus metrics (prefix ``streetlight_``, base units, per cluster and never per lamp).

Counters that events drive (ingest results, leases, events, tick overruns) are ordinary
prometheus-client metrics. What is state (levels, flows, energy, outbox, links) is read at
scrape time from a ``Snapshot`` the control loop replaces each tick: the HTTP thread reads
one immutable object and never touches the controller's arrays.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge.errors import ListenError

__all__ = ["ClusterSnapshot", "LinkSnapshot", "Metrics", "Snapshot"]

log = logging.getLogger("streetlight.metrics")


class ClusterSnapshot(NamedTuple):
    """One cluster's state at a step (immutable; a named tuple, not a frozen dataclass:
    a big gateway makes thousands a step, and a tuple is made several times faster)."""

    id: str
    lamps: int
    level: float  # mean commanded level
    flow_per_h: float
    class_step: int  # 0 = rated class
    class_level: float
    failsafe: bool
    power_w: float
    faulty_lamps: int
    energy_j: float  # the ledger, since the first boot (checkpointed)
    baseline_full_j: float
    baseline_schedule_j: float
    modelled_j: float = 0.0  # from the commanded levels, every lamp
    metered_j: float = 0.0  # what the lamps' meters counted
    metered_model_j: float = 0.0  # the model's figure for the metered lamps
    metered_lamps: int = 0  # lamps that report an energy counter


@dataclass(frozen=True, slots=True)
class LinkSnapshot:
    port: str
    up: bool
    frames_ok: int
    rejected: dict[str, int]
    reopens: int
    retransmissions: int = 0  # frames the gateway sent again for want of an ACK
    lost: int = 0  # frames the gateway sent that were never ACKed
    duplicates: int = 0  # retransmissions received: ACKed again, not applied again
    nodes_heard: int = 0
    nodes_gone: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    night: bool = False
    clusters: tuple[ClusterSnapshot, ...] = ()
    links: tuple[LinkSnapshot, ...] = ()
    mqtt_connected: bool = False
    mqtt_connects: int = 0
    mqtt_dropped: int = 0
    mqtt_queued: int = 0
    mqtt_published: int = 0
    outbox_depth: int = 0
    outbox_bytes: int = 0
    outbox_dropped: int = 0
    outbox_delivered: int = 0
    outbox_replayed: int = 0
    upstream_up: bool | None = None  # None: no bridge configured


class _SnapshotCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        s = self._metrics.snapshot
        p = "streetlight_"
        yield GaugeMetricFamily(p + "night", "1 while the street is lit for the night", s.night)
        per_cluster = (
            ("dim_level_ratio", "Mean commanded dimming level of the cluster's lamps", "level"),
            ("traffic_flow_per_hour", "Road users per hour over the rolling window", "flow_per_h"),
            ("class_step", "Lighting class steps below the rated class (0 = rated)", "class_step"),
            ("class_level_ratio", "Level of the cluster's current lighting class", "class_level"),
            ("failsafe", "1 while the cluster runs at its rated class (fail-safe)", "failsafe"),
            ("power_watts", "Electrical power drawn by the cluster's lamps", "power_w"),
            ("lamps", "Lamps in the cluster", "lamps"),
            ("lamps_faulty", "Lamps reporting a fault", "faulty_lamps"),
        )
        for name, doc, attr in per_cluster:
            g = GaugeMetricFamily(p + name, doc, labels=["cluster"])
            for c in s.clusters:
                g.add_metric([c.id], float(getattr(c, attr)))
            yield g
        energy = CounterMetricFamily(
            p + "energy_joules",
            "Energy per cluster: drawn (basis=actual: the lamps' meters where they report, "
            "modelled elsewhere), modelled from the commands, metered, the model's figure for "
            "the metered lamps, and the counterfactual baselines",
            labels=["cluster", "basis"],
        )
        for c in s.clusters:
            energy.add_metric([c.id, "actual"], c.energy_j)
            energy.add_metric([c.id, "modelled"], c.modelled_j)
            energy.add_metric([c.id, "metered"], c.metered_j)
            energy.add_metric([c.id, "metered_model"], c.metered_model_j)
            energy.add_metric([c.id, "full"], c.baseline_full_j)
            energy.add_metric([c.id, "schedule"], c.baseline_schedule_j)
        yield energy
        metered = GaugeMetricFamily(
            p + "lamps_metered", "Lamps reporting their own energy counter", labels=["cluster"]
        )
        for c in s.clusters:
            metered.add_metric([c.id], float(c.metered_lamps))
        yield metered
        up = GaugeMetricFamily(
            p + "serial_link_up", "1 while the serial device is open", labels=["port"]
        )
        frames = CounterMetricFamily(
            p + "serial_frames", "Serial frames by result", labels=["port", "result"]
        )
        reopens = CounterMetricFamily(
            p + "serial_reopens", "Serial device reopens", labels=["port"]
        )
        sent = CounterMetricFamily(
            p + "serial_sent_frames",
            "Frames the gateway sent that need an ACK, by outcome beyond the first attempt",
            labels=["port", "outcome"],
        )
        duplicates = CounterMetricFamily(
            p + "serial_duplicate_frames", "Retransmissions received (not applied)", labels=["port"]
        )
        nodes = GaugeMetricFamily(
            p + "serial_nodes", "Nodes heard on the link, by state", labels=["port", "state"]
        )
        for link in s.links:
            up.add_metric([link.port], float(link.up))
            frames.add_metric([link.port, "ok"], link.frames_ok)
            for reason, n in sorted(link.rejected.items()):
                frames.add_metric([link.port, reason], n)
            reopens.add_metric([link.port], link.reopens)
            sent.add_metric([link.port, "retransmitted"], link.retransmissions)
            sent.add_metric([link.port, "lost"], link.lost)
            duplicates.add_metric([link.port], link.duplicates)
            nodes.add_metric([link.port, "heard"], link.nodes_heard)
            nodes.add_metric([link.port, "gone"], link.nodes_gone)
        yield from (up, frames, reopens, sent, duplicates, nodes)
        yield GaugeMetricFamily(
            p + "mqtt_connected", "1 while connected to the broker", s.mqtt_connected
        )
        yield CounterMetricFamily(
            p + "mqtt_connects", "Successful broker connections", s.mqtt_connects
        )
        yield CounterMetricFamily(
            p + "mqtt_published",
            "Messages handed to the broker (leases, telemetry, events, replies)",
            s.mqtt_published,
        )
        yield CounterMetricFamily(
            p + "mqtt_incoming_dropped", "Incoming messages dropped (queue full)", s.mqtt_dropped
        )
        yield GaugeMetricFamily(
            p + "mqtt_incoming_queued",
            "Incoming messages received and not yet handled (at mqtt.queue_size the oldest "
            "are dropped)",
            s.mqtt_queued,
        )
        yield GaugeMetricFamily(p + "outbox_depth", "Records waiting in the outbox", s.outbox_depth)
        yield GaugeMetricFamily(p + "outbox_bytes", "Bytes waiting in the outbox", s.outbox_bytes)
        yield CounterMetricFamily(
            p + "outbox_dropped", "Outbox records dropped (full or disk error)", s.outbox_dropped
        )
        yield CounterMetricFamily(
            p + "outbox_delivered", "Outbox records acknowledged by the broker", s.outbox_delivered
        )
        if s.upstream_up is not None:
            yield GaugeMetricFamily(
                p + "upstream_up", "1 while the bridge to the central broker is up", s.upstream_up
            )
            yield CounterMetricFamily(
                p + "outbox_replayed",
                "Records sent again because the bridge went down after taking them",
                s.outbox_replayed,
            )


class Metrics:
    """The daemon's registry. ``serve()`` starts the HTTP endpoint in a thread."""

    def __init__(self, *, gateway_id: str, version: str) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.snapshot = Snapshot()
        Gauge(
            "streetlight_build_info", "Build and gateway", ["version", "gateway_id"], registry=r
        ).labels(version, gateway_id).set(1)
        self.tick_seconds = Histogram(
            "streetlight_tick_duration_seconds",
            "Time one control tick took (step, leases, telemetry)",
            buckets=(
                0.001,
                0.002,
                0.005,
                0.01,
                0.02,
                0.05,
                0.1,
                0.15,
                0.2,
                0.25,
                0.3,
                0.5,
                1.0,
                2.0,
            ),
            registry=r,
        )
        self.tick_overruns = Counter(
            "streetlight_tick_overruns", "Ticks that ran past their period", registry=r
        )
        self.presence_steps = Counter(
            "streetlight_presence_steps",
            "Control steps run between ticks to light road users just counted",
            registry=r,
        )
        self.ingest = Counter(
            "streetlight_ingest_messages",
            "Inbound messages by source, kind and result (ok or the rejection reason)",
            ["source", "kind", "result"],
            registry=r,
        )
        self._ingest_children: dict[tuple[str, str, str], Counter] = {}
        self.ingest_unknown_fields = Counter(
            "streetlight_ingest_unknown_fields",
            "Inbound payloads used despite fields this version does not know, by kind",
            ["kind"],
            registry=r,
        )
        self.leases = Counter(
            "streetlight_leases_sent", "Lease setpoints handed to the broker or a serial link",
            registry=r,
        )  # fmt: skip
        self.lease_failures = Counter(
            "streetlight_lease_send_failures",
            "Leases offered and not taken (the MQTT session full or refusing, a serial lamp "
            "node never ACKing); each is sent again at the next tick",
            registry=r,
        )
        self.leases_waiting = Gauge(
            "streetlight_leases_waiting",
            "Lamps whose due lease the last step could not offer, by the way that is down "
            "(broker: no connection; serial: the link closed); sent once it is back",
            ["via"],
            registry=r,
        )
        self._waiting = {via: self.leases_waiting.labels(via) for via in ("broker", "serial")}
        self.events = Counter(
            "streetlight_events", "Events raised, by kind", ["kind", "severity"], registry=r
        )
        self.config_reloads = Counter(
            "streetlight_config_reloads", "SIGHUP reloads by result", ["result"], registry=r
        )
        self.clock_steps = Counter(
            "streetlight_clock_steps",
            "Wall-clock steps between two ticks, taken out of every interval",
            registry=r,
        )
        self.store_problems = Counter(
            "streetlight_store_problems",
            "State or outbox files found damaged (moved aside) or unusable at start",
            ["store", "problem"],
            registry=r,
        )
        self.store_persistent = Gauge(
            "streetlight_store_persistent",
            "1 while the store is on disk, 0 while it lives in memory (no persistence)",
            ["store"],
            registry=r,
        )
        r.register(_SnapshotCollector(self))
        self._server: object | None = None
        self._thread: threading.Thread | None = None

    def count_ingest(self, source: str, kind: str, result: str) -> None:
        """One inbound message's result (the label set looked up once: this runs per message)."""
        key = (source, kind, result)
        child = self._ingest_children.get(key)
        if child is None:
            child = self._ingest_children[key] = self.ingest.labels(source, kind, result)
        child.inc()

    def count_leases(self, *, sent: int, failed: int, wait_broker: int, wait_serial: int) -> None:
        """One step's leases: sent, offered and not taken, and not offered (waiting)."""
        if sent:
            self.leases.inc(sent)
        if failed:
            self.lease_failures.inc(failed)
        self._waiting["broker"].set(wait_broker)
        self._waiting["serial"].set(wait_serial)

    def serve(self, host: str, port: int) -> int:
        """Start the endpoint; returns the bound port (``port`` 0 picks a free one). Raises
        ``ListenError`` naming the address and its setting when it cannot be had."""
        try:
            server, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise _listen_error(host, port, exc) from None
        self._server, self._thread = server, thread
        bound = int(server.server_address[1])
        log.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    def stop(self) -> None:
        server = self._server
        if server is not None:
            server.shutdown()  # type: ignore[attr-defined]
            server.server_close()  # type: ignore[attr-defined]
            self._server = None


def _listen_error(host: str, port: int, exc: OSError) -> ListenError:
    """What went wrong binding the endpoint, and which setting to change."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EADDRINUSE:
        return ListenError(
            "metrics", host, port, "metrics.port", "the port is in use by another process",
            in_use=True,
            hint=f"`ss -ltnp 'sport = :{port}'` names it: stop that one, or set metrics.port in "
            "the config (or `streetlight run --metrics-port`) to a free port, 0 for any",
        )  # fmt: skip
    if exc.errno == errno.EACCES:
        return ListenError(
            "metrics", host, port, "metrics.port", reason, in_use=False,
            hint="set metrics.port to 1024 or above: lower ports need privileges the daemon "
            "does not have",
        )  # fmt: skip
    return ListenError(
        "metrics", host, port, "metrics.host", reason, in_use=False,
        hint="set metrics.host to an address of this machine (127.0.0.1 for Prometheus on the "
        "gateway, 0.0.0.0 for every interface)",
    )  # fmt: skip
