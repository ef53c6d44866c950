"""The one module that touches aiomqtt (and, through it, paho-mqtt): a reconnecting session.

``MqttSession.run()`` connects (MQTT v5, unique client id, Will, TLS and credentials),
subscribes, calls ``on_connect`` (republish status, re-send leases), and on a lost connection
reconnects with jittered exponential backoff, for ever. Incoming messages land in one bounded
queue that outlives connections (full: the oldest is dropped and counted) and are handed to
``handler`` by worker tasks, so a slow handler never blocks the network reader.

A v3 migration of aiomqtt touches this file only.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import cast

import aiomqtt

from edge._mqtt_hooks import (
    connection_end,
    no_delay,
    outstanding,
    paho_client,
    ping_times,
    refusal_of,
)
from edge._mqtt_props import publish_properties
from edge._mqtt_settings import broker_settings, read_password, tls_context
from edge._mqtt_types import (
    DropOldest,
    Inbound,
    MqttStats,
    NotConnectedError,
    PublishTimeoutError,
)
from edge.clock import Clock
from edge.errors import BrokerRefusedError

__all__ = [
    "BrokerRefusedError",
    "Inbound",
    "MqttSession",
    "MqttStats",
    "NotConnectedError",
    "PublishTimeoutError",
    "broker_settings",
    "read_password",
    "tls_context",
]

log = logging.getLogger("streetlight.mqtt")

#: the longest a worker handles a burst of messages before it lets the event loop run other
#: tasks (the tick, the network reader): a tick is late by at most this, and a flood is still
#: handled in long runs (yielding every few messages cost a third of the busy ingest's rate)
WORK_BEFORE_YIELD_S = 0.02

Handler = Callable[["Inbound"], Awaitable[None] | None]


def _lost_socket_is_a_warning(record: logging.LogRecord) -> bool:
    """paho logs a dropped connection at ERROR ("failed to receive on socket: ..."); the session
    logs the loss itself and reconnects, so a broker restart is a warning, not an error."""
    if record.levelno == logging.ERROR and "on socket" in record.getMessage():
        record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True


_PAHO_LOG = logging.getLogger("streetlight.mqtt.paho")
_PAHO_LOG.addFilter(_lost_socket_is_a_warning)

#: How often a connection's liveness (an unanswered ping) is checked.
_LIVENESS_CHECK_S = 0.5


class MqttSession:
    """A broker connection that survives the broker. Run ``run()`` as a task."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        subscriptions: Iterable[tuple[str, int]] = (),
        handler: Handler | None = None,
        on_connect: Callable[[], Awaitable[None]] | None = None,
        will: tuple[str, bytes] | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        keepalive_s: int = 30,
        queue_size: int = 10_000,
        workers: int = 1,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        max_inflight: int = 1000,
        max_outstanding: int = 5_000,
        timeout_s: float = 10.0,
        clock: Clock | None = None,
        log_connect_failures: bool = True,
    ) -> None:
        """``log_connect_failures`` False: a caller that reports them itself (the CLI)."""
        self.host, self.port, self.client_id = host, port, client_id
        self.clock = clock or Clock()  # backoff, connection times (pings: paho's own clock)
        self.subscriptions = list(subscriptions)
        self.handler, self.on_connect, self.will = handler, on_connect, will
        self._username, self._password, self._tls = username, password, tls
        self.keepalive_s, self.workers = keepalive_s, workers
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, reconnect_max_s
        self.max_inflight, self.timeout_s = max_inflight, timeout_s
        self.max_outstanding = max_outstanding
        self.log_connect_failures = log_connect_failures
        self.stats = MqttStats()
        self.connected = asyncio.Event()
        self._refused = asyncio.Event()  # the last attempt was refused; cleared on connecting
        self._client: aiomqtt.Client | None = None
        self._closing = False
        self._queue: DropOldest[aiomqtt.Message] = DropOldest(queue_size, self.stats)

    @property
    def is_connected(self) -> bool:
        return self.connected.is_set()

    async def first_connection(self) -> None:
        """Wait until connected; raise ``BrokerRefusedError`` as soon as an attempt is refused
        rather than retrying (a command waiting for an answer: only silence is worth waiting
        out). ``run()`` must be running."""
        connected = asyncio.ensure_future(self.connected.wait())
        refused = asyncio.ensure_future(self._refused.wait())
        try:
            await asyncio.wait([connected, refused], return_when=asyncio.FIRST_COMPLETED)
        finally:
            connected.cancel()
            refused.cancel()
            await asyncio.gather(connected, refused, return_exceptions=True)
        if not self.is_connected:
            raise BrokerRefusedError(self.host, self.port, self.stats.last_error)

    @property
    def queued(self) -> int:
        """Messages received and not yet handled."""
        return self._queue.qsize()

    # ---------------------------------------------------------------- lifecycle
    async def run(self) -> None:
        """Workers plus the connect loop; until cancelled."""
        async with asyncio.TaskGroup() as tg:
            for i in range(self.workers if self.handler else 0):
                tg.create_task(self._work(), name=f"mqtt-worker-{i} {self.client_id}")
            tg.create_task(self._connect_loop(), name=f"mqtt-connect {self.client_id}")

    def _new_client(self) -> aiomqtt.Client:
        will = None
        if self.will is not None:
            will = aiomqtt.Will(self.will[0], self.will[1], qos=1, retain=True)
        queue = self._queue
        client = aiomqtt.Client(
            self.host,
            self.port,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            will=will,
            username=self._username,
            password=self._password,
            tls_context=self._tls,
            keepalive=self.keepalive_s,
            # One queue for the session's life: messages queued before a disconnect are
            # still handled after it.
            queue_type=cast("type[asyncio.Queue[aiomqtt.Message]]", lambda maxsize: queue),
            max_inflight_messages=self.max_inflight,
            timeout=self.timeout_s,
            logger=_PAHO_LOG,
        )
        # Many QoS 1 publishes in flight is how the outbox drains; not worth a warning each.
        client.pending_calls_threshold = 100_000
        return client

    async def _connect_loop(self) -> None:
        backoff = self.reconnect_min_s
        while True:
            client = self._new_client()
            started = self.clock.monotonic()
            try:
                async with client:
                    await self._serve(client)
            except aiomqtt.MqttError as exc:
                self.stats.last_error = str(exc)
                if self._client is None:
                    refusal = refusal_of(exc)
                    if refusal is not None:
                        self.stats.last_error = refusal
                        self._refused.set()
                    self.stats.connect_failures += 1
                    failures = self.stats.connect_failures
                    if self.log_connect_failures and (failures in (1, 10) or failures % 100 == 0):
                        log.warning(
                            "mqtt %s:%d: cannot connect (%s); retrying",
                            self.host,
                            self.port,
                            exc,
                        )
            finally:
                if self._client is not None:
                    self.stats.disconnects += 1
                    if self._closing:
                        log.debug("mqtt %s:%d: disconnected", self.host, self.port)
                    else:
                        log.warning("mqtt %s:%d: connection lost", self.host, self.port)
                    # A connection that lasted resets the backoff; a flapping one does not.
                    if self.clock.monotonic() - started > 10 * self.reconnect_min_s + 5:
                        backoff = self.reconnect_min_s
                self._client = None
                self.connected.clear()
            await self.clock.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, self.reconnect_max_s)

    async def _serve(self, client: aiomqtt.Client) -> None:
        no_delay(client)
        for topic, qos in self.subscriptions:
            await client.subscribe(topic, qos=qos)
        self._client = client
        self._closing = False
        self._refused.clear()
        self.stats.connects += 1
        self.stats.connected_since = self.clock.time()
        self.connected.set()
        log.info("mqtt %s:%d: connected as %s", self.host, self.port, self.client_id)
        # The on-connect step runs beside the watch: a connection lost while it waits is seen.
        step = asyncio.create_task(self._on_connect_step()) if self.on_connect else None
        # aiomqtt shows a connection's end only to its iterator: wait on what that waits on.
        disconnected = connection_end(client)
        try:
            while not disconnected.done():
                await asyncio.wait([disconnected], timeout=_LIVENESS_CHECK_S)
                if not disconnected.done() and self._ping_overdue(client):
                    self._abort(client)
        finally:
            if step is not None and not step.done():
                step.cancel()
                await asyncio.gather(step, return_exceptions=True)
        if disconnected.exception() is not None:
            self.stats.last_error = str(disconnected.exception())

    async def _on_connect_step(self) -> None:
        assert self.on_connect is not None
        try:
            await self.on_connect()
        except Exception:  # e.g. the status publish timed out: the session goes on
            log.exception("mqtt %s:%d: on-connect step failed", self.host, self.port)

    def _ping_overdue(self, client: aiomqtt.Client) -> bool:
        """A PINGREQ unanswered, and nothing else heard either, for a quarter of the keepalive:
        the link is dead.

        paho itself gives up only a whole keepalive after its ping (up to 2x keepalive of
        silence); a blackholed link (no FIN, no RST) is found here within ~1.25x keepalive.
        A link that keeps delivering (a flood queued ahead of the PINGRESP) is alive, however
        late the PINGRESP.
        """
        ping_t, heard = ping_times(paho_client(client))
        if ping_t <= 0:
            return False
        now, grace = time.monotonic(), self.keepalive_s / 4
        return now - ping_t > grace and now - heard > grace

    def _abort(self, client: aiomqtt.Client) -> None:
        """Shut the socket: paho's reader sees EOF and reports the connection lost."""
        self.stats.dead_links += 1
        log.warning(
            "mqtt %s:%d: no answer to a ping within %.1f s; the link is dead, reconnecting",
            self.host, self.port, self.keepalive_s / 4,
        )  # fmt: skip
        sock = paho_client(client).socket()
        if isinstance(sock, socket.socket):  # an SSLSocket is one too
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    async def _work(self) -> None:
        assert self.handler is not None
        handler, queue = self.handler, self._queue
        yielded = time.perf_counter()
        while True:
            # a get from a queue holding messages does not yield: a burst of thousands would
            # hold the loop (the tick, the network reader) until it is all handled
            now = time.perf_counter()
            if queue.empty():
                yielded = now  # the get waits, and the loop runs meanwhile
            elif now - yielded > WORK_BEFORE_YIELD_S:
                await asyncio.sleep(0)
                yielded = now
            message = await queue.get()
            try:
                props = message.properties
                corr = getattr(props, "CorrelationData", None) if props else None
                inbound = Inbound(
                    topic=message.topic.value,
                    payload=message.payload
                    if isinstance(message.payload, bytes)
                    else str(message.payload).encode(),
                    retain=message.retain,
                    response_topic=getattr(props, "ResponseTopic", None) if props else None,
                    correlation=bytes(corr) if corr is not None else None,
                )
                result = handler(inbound)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # a handler error is counted and logged, never fatal
                self.stats.handler_errors += 1
                log.exception("mqtt: handler failed on %s", message.topic.value)

    # ---------------------------------------------------------------- publishing
    def _connected_client(self) -> aiomqtt.Client:
        client = self._client
        if client is None:
            raise NotConnectedError(self.host, self.port)
        return client

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        expiry_s: float | None = None,
        response_topic: str | None = None,
        correlation: bytes | None = None,
        timeout_s: float | None = None,
    ) -> None:
        """Publish and, for QoS 1, wait for the broker's PUBACK."""
        client = self._connected_client()
        props = publish_properties(expiry_s, response_topic, correlation)
        wait = self.timeout_s if timeout_s is None else timeout_s
        try:
            await client.publish(topic, payload, qos=qos, retain=retain, properties=props,
                                 timeout=wait)  # fmt: skip
        except aiomqtt.MqttError as exc:
            self.stats.publish_failures += 1
            if "timed out" in str(exc):
                raise PublishTimeoutError(topic, wait) from None
            raise NotConnectedError(self.host, self.port) from exc
        self.stats.published += 1

    def publish_nowait(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        expiry_s: float | None = None,
    ) -> bool:
        """Hand a message to the client without waiting for its PUBACK (leases: a lost one
        is re-sent by the next refresh). False when not connected or the client refused."""
        client = self._client
        if client is None:
            return False
        # QoS 1 messages wait in paho until acknowledged: past ``max_outstanding`` refuse more
        # (their message ids would wrap at 65,535, and each holds memory), and let the caller
        # send them again later.
        if qos > 0 and outstanding(paho_client(client)) >= self.max_outstanding:
            self.stats.backpressure += 1
            return False
        # aiomqtt has no fire-and-forget publish; paho's is the non-waiting half of its own.
        info = paho_client(client).publish(
            topic, payload, qos, retain, publish_properties(expiry_s, None, None)
        )
        if info.rc != 0:
            self.stats.publish_failures += 1
            return False
        self.stats.published += 1
        return True

    async def subscribe(self, topic: str, qos: int = 1) -> None:
        """Subscribe now (and after every reconnect)."""
        if (topic, qos) not in self.subscriptions:
            self.subscriptions.append((topic, qos))
        client = self._connected_client()
        with contextlib.suppress(aiomqtt.MqttError):
            await client.subscribe(topic, qos=qos)

    async def disconnect(self) -> None:
        """Close the connection cleanly (no Will); ``run()`` keeps reconnecting unless cancelled."""
        client = self._client
        if client is not None:
            self._closing = True
            with contextlib.suppress(Exception):
                paho_client(client).disconnect()
