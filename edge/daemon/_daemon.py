"""The gateway daemon: MQTT session, serial links, tick loop, outbox drain, metrics, signals.

Every long-running task is named and owned by one TaskGroup. ``stop()`` (SIGTERM) ends the
tick loop, checkpoints energy, drains what it can of the outbox, publishes status offline
and returns; ``reload()`` (SIGHUP) re-validates the config file and swaps the policy in
between two ticks, or keeps the running one and says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import numpy as np

from edge._version import __version__
from edge.clock import Clock
from edge.config import SiteConfig
from edge.control import Event, StepResult
from edge.daemon._commands import Commands
from edge.daemon._delivery import Delivery
from edge.daemon._homeassistant import HomeAssistant
from edge.daemon._ingest import Ingest
from edge.daemon._leases_out import lease_topics, send_leases
from edge.daemon._links import node_events
from edge.daemon._pacing import Pacer
from edge.daemon._persist import (
    checkpoint,
    save_overrides,
    saved_overrides,
    seq_base,
    store_problems,
)
from edge.daemon._publish import (
    EnergyTotals,
    cluster_snapshots,
    energy_record,
    meter_readings,
    put_events,
    restore_meters,
    traffic_record,
)
from edge.daemon._reload import reread
from edge.daemon._sdnotify import SystemdNotifier
from edge.daemon._seams import DaemonStats
from edge.daemon._serial_lamps import SerialLamps
from edge.daemon._session import gateway_session
from edge.daemon._steps import Every, StepTimer, clock_step_event
from edge.metrics import Metrics
from edge.mqtt import Inbound
from edge.outbox import Outbox
from edge.payloads import encode_status
from edge.site import build_controller
from edge.state import StateStore
from firmware_bridge.frames import Hello
from firmware_bridge.link import SerialLink

__all__ = ["Daemon"]

log = logging.getLogger("streetlight.daemon")


class Daemon:
    """One gateway. ``await run()`` until ``stop()``."""

    def __init__(
        self,
        site: SiteConfig,
        *,
        config_path: Path | None = None,
        clock: Clock | None = None,
        notifier: SystemdNotifier | None = None,
    ) -> None:
        self.site, self.config_path = site, config_path
        self.clock = clock or Clock()
        self.notifier = notifier or SystemdNotifier()
        self.boot_id = uuid.uuid4().hex
        self.root = site.topic_root
        self.stats = DaemonStats(started_at=self.clock.time())
        state_dir = site.storage.state_dir
        self.state = StateStore(state_dir / "state.db")
        self.outbox = Outbox(
            state_dir / "outbox.db",
            gateway_id=site.gateway_id,
            boot_id=self.boot_id,
            max_bytes=site.storage.outbox_max_bytes,
            event_topic=f"{self.root}/event",
            synchronous=site.storage.synchronous,
            keep_acked_s=site.mqtt.upstream_replay_s if site.mqtt.upstream_state_topic else 0.0,
        )
        self.metrics = Metrics(gateway_id=site.gateway_id, version=__version__)
        self.metrics_port: int | None = None
        self._stopping = asyncio.Event()
        self.pacer = Pacer(
            clock=self.clock, period=lambda: self.site.controller.tick_s,
            observe=self.metrics.tick_seconds.observe, overran=self._overran,
        )  # fmt: skip
        self._reload_requested = False
        self._cmd_prefix = f"{self.root}/cmd/"
        self.commands = Commands(self)
        self.home_assistant = HomeAssistant(self) if site.home_assistant.enabled else None
        self.links = {
            p.name: SerialLink(url=p.url, baudrate=p.baudrate, heartbeat_s=p.heartbeat_s)
            for p in site.serial
        }
        self.serial_lamps: SerialLamps | None = None
        self._build_policy(site, seq_base=seq_base(self.state))
        self.energy = EnergyTotals([c.id for c in site.clusters], self.state)
        ha = self.home_assistant
        self.mqtt = gateway_session(
            site, boot_id=self.boot_id, handler=self._on_message, on_connect=self._on_connect,
            extra=ha.subscriptions() if ha is not None else (),
        )  # fmt: skip
        self.delivery = Delivery(
            self.outbox, self.mqtt, drain_per_s=site.mqtt.drain_per_s,
            upstream_topic=site.mqtt.upstream_state_topic, count=self.count_ingest,
        )  # fmt: skip
        self._energy_due, self._traffic_due, self._checkpoint_due = Every(), Every(), Every()
        self._step_timer = StepTimer(self.clock)
        for fields in store_problems(self.state, self.outbox, self.metrics):
            self.record_event(**fields)

    # ----------------------------------------------------------------- building
    def _build_policy(
        self, site: SiteConfig, *, seq_base: int, meters: dict[str, list[float]] | None = None
    ) -> None:
        """Controller, ingest and lease topics for ``site`` (swapped in as one); the lamps'
        meter readings from ``meters`` or, at start, from the last checkpoint."""
        ctrl = build_controller(site, start=self.clock.time(), seq_base=seq_base)
        if meters is None:
            meters = self.state.get("meters", {})
        if isinstance(meters, dict):
            restore_meters(ctrl, meters)
        ingest = Ingest(
            site, count=self.count_ingest, max_payload_bytes=site.mqtt.max_payload_bytes,
            lamp_ids=ctrl.lamp_ids,
            unknown_field=lambda kind: self.metrics.ingest_unknown_fields.labels(kind).inc(),
            road_user=self.pacer.road_user.set if site.controller.presence.enabled else None,
        )  # fmt: skip
        topics = lease_topics(site, ctrl)
        if self.serial_lamps is not None:
            self.serial_lamps.close()
        self.serial_lamps = SerialLamps(
            site, ctrl.site.lamps.ids, self.links, on_lost=self._serial_lease_lost
        )
        self.controller, self.ingest, self._lease_topics = ctrl, ingest, topics
        for override in saved_overrides(self.state, self.clock.time()):
            with contextlib.suppress(Exception):  # a target gone from the config: dropped
                ctrl.add_override(override)

    def count_ingest(self, source: str, kind: str, result: str) -> None:
        self.metrics.count_ingest(source, kind, result)

    # ---------------------------------------------------------------- lifecycle
    async def run(self) -> None:
        """Serve until ``stop()``; then shut down in order."""
        loop = asyncio.get_running_loop()
        # No signal handlers off the main thread (the daemon run inside a test or the demo):
        # stop() is then called directly.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, self.stop)
            loop.add_signal_handler(signal.SIGINT, self.stop)
            loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        log.info(
            "gateway %s starting: boot_id=%s lamps=%d clusters=%d broker=%s:%d",
            self.site.gateway_id, self.boot_id, self.controller.n_lamps,
            self.controller.n_clusters, self.site.mqtt.host, self.site.mqtt.port,
        )  # fmt: skip
        try:
            m = self.site.metrics  # a port taken ends the start here, with the stores closed
            self.metrics_port = self.metrics.serve(m.host, m.port) if m.enabled else None
            async with asyncio.TaskGroup() as tg:
                services = [
                    tg.create_task(self.mqtt.run(), name="mqtt"),
                    tg.create_task(self.delivery.run(), name="outbox-drain"),
                ]
                for name, link in self.links.items():
                    services.append(tg.create_task(link.run(), name=f"serial {name}"))
                    services.append(
                        tg.create_task(self._read_link(name, link), name=f"ingest {name}")
                    )
                ticks = tg.create_task(
                    self.pacer.run(tick=self.tick, early=self.presence_step,
                                   before=self._reload_if_asked, after=self.notifier.watchdog),
                    name="tick",
                )  # fmt: skip
                self.notifier.ready()
                await self._stopping.wait()
                self.notifier.stopping()
                ticks.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticks
                self._checkpoint()
                offline = encode_status("offline", self.boot_id)
                await self.delivery.final(3.0, (f"{self.root}/status", offline))
                for task in services:
                    task.cancel()
        finally:
            if self.serial_lamps is not None:
                self.serial_lamps.close()
            self.metrics.stop()
            self.outbox.close()
            self.state.close()
            with contextlib.suppress(NotImplementedError, RuntimeError):
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    loop.remove_signal_handler(sig)
        log.info("gateway %s stopped", self.site.gateway_id)

    def stop(self) -> None:
        self._stopping.set()

    # -------------------------------------------------------------------- MQTT
    def _on_message(self, msg: Inbound) -> Awaitable[None] | None:
        if msg.topic.startswith(self._cmd_prefix):
            return self.commands.answer(msg.topic[len(self._cmd_prefix) :], msg)
        if msg.topic == self.delivery.upstream_topic:
            self.delivery.on_upstream_state(msg.payload, retained=msg.retain)
            return None
        ha = self.home_assistant
        if ha is not None and (
            msg.topic == ha.status_topic or msg.topic.startswith(ha.command_prefix)
        ):
            ha.on_message(msg.topic, msg.payload)
            return None
        self.ingest.on_mqtt(msg)
        return None

    def overrides_changed(self) -> None:
        """Persist the overrides (they outlive a restart; expired ones are dropped on load)."""
        save_overrides(self.state, self.controller)

    def record_event(self, **fields: Any) -> None:
        """An event the daemon itself raises (commands, not the control core)."""
        self._events_out((Event(t=self.clock.time(), **fields),))

    def _events_out(self, events: tuple[Event, ...]) -> None:
        """Events to the outbox (one transaction), counted, and the delivery woken."""
        put_events(self.outbox, f"{self.root}/event", events)
        for event in events:
            self.metrics.events.labels(event.kind, event.severity).inc()
        self.delivery.ready.set()

    async def _on_connect(self) -> None:
        status = encode_status("online", self.boot_id, __version__)
        await self.mqtt.publish(f"{self.root}/status", status, retain=True)
        # Leases handed to a dead connection may be lost: refresh every lamp now.
        self.controller.force_refresh()
        if self.home_assistant is not None:
            self.home_assistant.publish_all()
        self.delivery.ready.set()

    # ------------------------------------------------------------------ serial
    async def _read_link(self, name: str, link: SerialLink) -> None:
        while True:
            frame = await link.frames.get()
            try:
                msg = frame.message
                if isinstance(msg, Hello) and self.serial_lamps:
                    j = self.serial_lamps.hello(name, msg.node)
                    if j is not None:  # a lamp node (re)started: its lease at the next tick
                        self.controller.resend(np.array([j], dtype=np.intp))
                self.ingest.on_frame(name, frame)
            except Exception:  # never let one odd frame end ingest
                log.exception("serial %s: cannot ingest %s", name, frame)

    def _serial_lease_lost(self, j: int) -> None:
        """A serial lamp's lease was never ACKed: again at the next tick."""
        self.controller.resend(np.array([j], dtype=np.intp))
        self.stats.lease_failures += 1
        self.metrics.lease_failures.inc()

    # ------------------------------------------------------------------- ticks
    def _reload_if_asked(self) -> None:
        if self._reload_requested:
            self._reload_requested = False
            self.reload()

    def _overran(self, missed: int) -> None:
        """Ticks missed (skipped, never accumulated)."""
        self.stats.overruns += missed
        self.metrics.tick_overruns.inc(missed)

    def _control_time(self) -> float:
        """The wall clock for this step; a step of the wall clock is shifted out of everything
        the controller and this loop keep (``StepTimer``)."""
        t = self._step_timer.read(self.site.controller.tick_s)
        if t.step_s:
            self._shift(t.step_s)
        return t.now

    def _shift(self, delta: float) -> None:
        self.controller.shift(delta)
        for timer in (self._energy_due, self._traffic_due, self._checkpoint_due):
            timer.shift(delta)
        self.metrics.clock_steps.inc()
        if (event := clock_step_event(delta)) is not None:
            self.record_event(**event)

    def tick(self) -> None:
        """One control step: ingest, step, leases out, events and telemetry to the outbox."""
        result = self._step()
        self.stats.ticks += 1
        self._after_tick(result)

    def presence_step(self) -> None:
        """A step between two ticks, for a road user just counted: its lamps' leases (and
        any other due) go out now rather than at the next tick."""
        self._step()
        self.stats.presence_steps += 1
        self.metrics.presence_steps.inc()

    def _step(self) -> StepResult:
        """Ingest, step, leases out, events to the outbox."""
        self.pacer.road_user.clear()  # what it counted is in this step
        now = self._control_time()
        ctrl = self.controller
        result = ctrl.step(now, self.ingest.drain())
        self.energy.add(result)
        out = send_leases(
            result, serial_lamps=self.serial_lamps, mqtt=self.mqtt,
            where=self._lease_topics, speed=self.clock.speed,
        )  # fmt: skip
        if len(unsent := out.unsent):  # again at the next step, at the level then
            ctrl.resend(unsent)
        self.stats.leases += out.sent
        self.stats.lease_failures += len(out.failed)
        self.metrics.count_leases(
            sent=out.sent, failed=len(out.failed),
            wait_broker=len(out.wait_broker), wait_serial=len(out.wait_serial),
        )  # fmt: skip
        if result.events:
            self._events_out(result.events)
            if any(e.kind == "override_expired" for e in result.events):
                self.overrides_changed()
        return result

    def _after_tick(self, result: StepResult) -> None:
        """Telemetry, checkpoints, Home Assistant, node events and the metrics' snapshot."""
        ctrl, now = self.controller, result.now
        clusters = cluster_snapshots(ctrl, self.energy)
        tele = self.site.telemetry
        if self._energy_due.due(now, tele.energy_s):
            # Checkpoint first: no published total is ever above what a restart resumes from.
            self._checkpoint()
            self.outbox.put(
                f"{self.root}/telemetry/energy", energy_record(now, clusters), priority=2
            )
            self.delivery.ready.set()
        if self._traffic_due.due(now, tele.traffic_s):
            record = traffic_record(now, ctrl, clusters)
            self.outbox.put(f"{self.root}/telemetry/traffic", record, priority=1)
            self.delivery.ready.set()
        if self._checkpoint_due.due(now, self.site.energy.checkpoint_s):
            self._checkpoint()
        if self.home_assistant is not None and self.mqtt.is_connected:
            self.home_assistant.tick(now, clusters)
        for fields in node_events(self.links):
            self.record_event(**fields)
        self.metrics.snapshot = self.delivery.snapshot(result.night, clusters, self.links)

    def _checkpoint(self) -> None:
        self._checkpoint_due.last = now = self.clock.time()
        checkpoint(self.state, self.site, self.controller, self.energy, now)

    # ------------------------------------------------------------------ reload
    def request_reload(self) -> None:
        """SIGHUP: reload between two ticks."""
        self._reload_requested = True

    def reload(self) -> bool:
        """Re-validate the config file; swap the policy in, or keep the running one."""
        outcome, site = reread(self.config_path, self.site)
        if site is None:
            self.metrics.config_reloads.labels(outcome).inc()
            return False
        old = self.controller
        self._build_policy(site, seq_base=old.lease_seq + 1, meters=meter_readings(old))
        self.energy.rekey([c.id for c in site.clusters])
        self.site = site
        self.metrics.config_reloads.labels(outcome).inc()
        log.info("reload: applied %s (%d lamps)", self.config_path, self.controller.n_lamps)
        return True
