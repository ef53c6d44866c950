"""The outbox's way to the broker: drained while the session is up and the upstream bridge (if
there is one) says it is connected, at most ``mqtt.drain_per_s`` records a second."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping

from edge.daemon._links import link_snapshots
from edge.metrics import ClusterSnapshot, Snapshot
from edge.mqtt import MqttSession, NotConnectedError, PublishTimeoutError
from edge.outbox import Outbox
from firmware_bridge.link import SerialLink

__all__ = ["Delivery"]

log = logging.getLogger("streetlight.daemon")


class Delivery:
    """Drains ``outbox`` through ``mqtt``. ``ready`` is set when records were added;
    ``upstream`` is set while the bridge is up (always, without ``upstream_topic``)."""

    def __init__(
        self,
        outbox: Outbox,
        mqtt: MqttSession,
        *,
        drain_per_s: float,
        upstream_topic: str | None,
        count: Callable[[str, str, str], None],
    ) -> None:
        self.outbox, self.mqtt = outbox, mqtt
        self.drain_per_s = drain_per_s
        self.upstream_topic = upstream_topic
        self._count = count
        self.ready = asyncio.Event()
        self.upstream = asyncio.Event()
        if upstream_topic is None:
            self.upstream.set()

    async def run(self) -> None:
        """Until cancelled: deliver what the outbox holds, oldest first."""
        rate = self.drain_per_s
        batch = max(1, min(100, int(rate)))
        while True:
            await self.mqtt.connected.wait()
            await self.upstream.wait()
            if not self.outbox.depth:
                self.ready.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self.ready.wait()
                continue
            started = time.monotonic()
            delivered = await self._batch(batch)
            if not delivered:
                await asyncio.sleep(1.0)  # the broker is not acknowledging: do not spin
                continue
            # At most ``rate`` records a second after a reconnect: the backhaul is shared.
            await asyncio.sleep(max(0.0, delivered / rate - (time.monotonic() - started)))

    def snapshot(
        self, night: bool, clusters: tuple[ClusterSnapshot, ...], links: Mapping[str, SerialLink]
    ) -> Snapshot:
        """What the metrics show after a tick: the street, the serial links, and the broker
        session and the outbox as delivery sees them."""
        s, mqtt, outbox = self.mqtt.stats, self.mqtt, self.outbox
        return Snapshot(
            night=night,
            clusters=clusters,
            links=link_snapshots(links),
            mqtt_connected=mqtt.is_connected,
            mqtt_connects=s.connects,
            mqtt_dropped=s.dropped_in,
            mqtt_published=s.published,
            mqtt_queued=mqtt.queued,
            outbox_depth=outbox.depth,
            outbox_bytes=outbox.bytes,
            outbox_dropped=outbox.dropped,
            outbox_delivered=outbox.delivered,
            outbox_replayed=outbox.replayed,
            upstream_up=None if self.upstream_topic is None else self.upstream.is_set(),
        )

    async def final(self, budget_s: float, last_word: tuple[str, bytes]) -> None:
        """On SIGTERM: deliver what can be delivered within ``budget_s``, then publish
        ``last_word`` (topic, payload: the offline status, retained) and disconnect."""
        if not self.mqtt.is_connected:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(budget_s):
                while self.outbox.depth and self.mqtt.is_connected and self.upstream.is_set():
                    if not await self._batch(100):
                        break
        topic, payload = last_word
        with contextlib.suppress(NotConnectedError, PublishTimeoutError):
            await self.mqtt.publish(topic, payload, retain=True, timeout_s=2.0)
        await self.mqtt.disconnect()

    async def _batch(self, limit: int) -> int:
        records = self.outbox.peek(limit)
        if not records:
            return 0
        epoch = self.outbox.epoch
        results = await asyncio.gather(
            *(self.mqtt.publish(r.topic, r.payload, qos=1) for r in records),
            return_exceptions=True,
        )
        acked = [r.id for r, res in zip(records, results, strict=True) if res is None]
        # Only a prefix counts as delivered in order; a later one is sent again (dedup by seq).
        # A bridge that went down meanwhile voids the batch (the outbox ignores its PUBACKs).
        self.outbox.ack(acked, epoch=epoch)
        return len(acked) if epoch == self.outbox.epoch else 0

    def on_upstream_state(self, payload: bytes, *, retained: bool) -> None:
        """The bridge's notification (mosquitto): "1" when it connects, "0" when it closes.

        A "0" pauses the drain and makes recent records pending again (the bridge drops what it
        was forwarding). A bridge that times out on a silent link publishes no "0" (mosquitto
        2.0.11, measured): its next live "1" while we believed it up means it reconnected, and
        the recent records go again too. Consumers deduplicate by (boot_id, seq)."""
        state = payload.strip()
        if state not in (b"0", b"1"):
            self._count("mqtt", "upstream_state", "invalid")
            log.warning(
                "upstream state %s: expected 0 or 1, got %r", self.upstream_topic, payload[:40]
            )
            return
        self._count("mqtt", "upstream_state", "ok")
        was_up = self.upstream.is_set()
        if state == b"0":
            self.upstream.clear()
            if was_up:
                again = self.outbox.replay()
                log.warning(
                    "upstream bridge down: telemetry waits in the outbox; %d recent records "
                    "will be sent again", again,
                )  # fmt: skip
            return
        if was_up and not retained:
            again = self.outbox.replay()
            log.warning(
                "upstream bridge reconnected without saying it was down: %d recent records "
                "will be sent again", again,
            )  # fmt: skip
        elif not was_up:
            log.info("upstream bridge up: the outbox drains")
        self.upstream.set()
        self.ready.set()
