"""The asyncio serial link: open (in an executor, exclusively), read frames, ACK, retry, reopen.

The only module that touches pyserial. The session above never sees raw bytes: it reads
``Frame`` objects from ``link.frames`` (a bounded queue) and calls ``await link.send(msg)``.
A vanished device (USB unplug, EIO) closes the transport; ``run()`` reopens it with
exponential backoff and jitter, sleeping in between (no busy loop).

Time comes from a ``Clock`` passed in (the system's by default): heartbeats, backoff, a node's
silence, duplicate memory and log limits all read it, so a test drives them without waiting.
The ACK timeout alone is real time: it is the wire's round trip, whatever the clock says.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from typing import Protocol

import serial
import serial_asyncio_fast

from firmware_bridge.errors import AckTimeoutError, LinkDownError, NackError
from firmware_bridge.frames import (
    Ack,
    Deframer,
    Discover,
    Frame,
    Heartbeat,
    Hello,
    Message,
    Nack,
    Ping,
    SetLevel,
    encode_frame,
)

__all__ = [
    "NODE_GONE_S",
    "RECENT_S",
    "REJECT_LOG_S",
    "AckTimeoutError",
    "Clock",
    "LinkDownError",
    "LinkStats",
    "NackError",
    "SerialLink",
    "SystemClock",
]

log = logging.getLogger("streetlight.serial")


@dataclass
class LinkStats:
    """Counters a link keeps for metrics and `serial monitor`."""

    opens: int = 0
    open_failures: int = 0
    disconnects: int = 0
    frames_in: int = 0
    frames_out: int = 0
    duplicates: int = 0
    dropped: int = 0  # incoming frames dropped because the queue was full
    retries: int = 0
    lost: int = 0  # frames that never got their ACK
    handler_errors: int = 0
    last_error: str = ""  # rejected frames are counted by reason in ``SerialLink.deframer``
    nodes_gone: int = 0  # times a node fell silent for NODE_GONE_S


#: A node silent this long is gone from the link (three heartbeats, PROTOCOL.md section 6).
NODE_GONE_S = 15.0
#: Rejected frames are logged at most once per this many seconds per link, with a count.
REJECT_LOG_S = 10.0


#: A frame whose seq the receiver saw from the same node and type within this many seconds is
#: a retransmission. A sender retransmits for at most 1 s (3 x 250 ms after the first attempt,
#: PROTOCOL.md section 5); seqs wrap after 65,536 frames, more than a line carries in 2 s.
RECENT_S = 2.0


class Clock(Protocol):
    """What the link reads time from: monotonic seconds, and a sleep in the same seconds.
    (The gateway's ``edge.clock.Clock`` is one.)"""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The system's monotonic clock and asyncio's sleep."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _Recent:
    """The seqs seen in the last RECENT_S seconds, in arrival order, with a set to look them up."""

    __slots__ = ("_order", "_seen")

    def __init__(self) -> None:
        self._order: collections.deque[tuple[float, int]] = collections.deque()
        self._seen: set[int] = set()

    def add(self, seq: int, now: float) -> bool:
        """Remember ``seq`` seen at ``now``; False if it was seen in the last RECENT_S."""
        order = self._order
        while order and now - order[0][0] > RECENT_S:
            self._seen.discard(order.popleft()[1])
        if seq in self._seen:
            return False
        order.append((now, seq))
        self._seen.add(seq)
        return True


class _Protocol(asyncio.Protocol):
    def __init__(self, link: SerialLink) -> None:
        self._link = link
        self.lost = asyncio.Event()
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        link = self._link
        link.last_rx = link.clock.monotonic()
        for frame in link.deframer.feed(data):
            try:
                link._on_frame(frame)
            except Exception as exc:  # the reader must never die of a handler error
                link.stats.handler_errors += 1
                link.stats.last_error = f"handler: {exc!r}"
                log.exception("serial %s: error handling %s", link.url, frame)
        if link.deframer.rejected_total != link._rejected_logged:
            link._log_rejections()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._link.stats.last_error = f"lost: {exc}"
        self.lost.set()


class SerialLink:
    """One serial line to node firmware. Run ``run()`` as a task; read ``frames``; ``send()``."""

    def __init__(
        self,
        *,
        url: str,
        baudrate: int = 115200,
        queue_size: int = 1024,
        heartbeat_s: float = 5.0,
        ack_timeout_s: float = 0.25,
        retries: int = 3,
        backoff_min_s: float = 0.05,
        backoff_max_s: float = 5.0,
        discover_on_open: bool = True,
        auto_ack: bool = True,
        clock: Clock | None = None,
    ) -> None:
        self.url, self.baudrate = url, baudrate
        self.heartbeat_s, self.ack_timeout_s, self.retries = heartbeat_s, ack_timeout_s, retries
        self.backoff_min_s, self.backoff_max_s = backoff_min_s, backoff_max_s
        self.discover_on_open, self.auto_ack = discover_on_open, auto_ack
        self.clock: Clock = clock or SystemClock()
        self.frames: asyncio.Queue[Frame] = asyncio.Queue(maxsize=queue_size)
        self.connected = asyncio.Event()
        self.deframer = Deframer()
        self.stats = LinkStats()
        self.last_rx = 0.0
        self._started = self.clock.monotonic()
        self._transport: asyncio.Transport | None = None
        self._seq = random.randrange(0x10000)
        self._pending: dict[tuple[int, int], tuple[int, asyncio.Future[Message]]] = {}
        #: each node's payload version, from its HELLO (1 until it says otherwise)
        self.versions: dict[int, int] = {}
        self._recent: dict[tuple[int, int], _Recent] = {}  # per (node, type)
        #: each node heard on this link: when it was last heard (monotonic)
        self.nodes: dict[int, float] = {}
        self.gone: set[int] = set()
        self._rejected_logged = 0
        self._reject_log_at = -REJECT_LOG_S
        self._last_tx = 0.0

    # ---------------------------------------------------------------- lifecycle
    async def run(self) -> None:
        """Open, serve until the device vanishes, reopen with backoff; until cancelled."""
        backoff = self.backoff_min_s
        while True:
            try:
                protocol = await self._open()
            except (OSError, serial.SerialException, ValueError) as exc:
                self.stats.open_failures += 1
                self.stats.last_error = f"open: {exc}"
                if self.stats.open_failures in (1, 10) or self.stats.open_failures % 100 == 0:
                    log.warning("serial %s: cannot open (%s); retrying", self.url, exc)
                await self.clock.sleep(backoff * random.uniform(0.8, 1.2))
                backoff = min(backoff * 2, self.backoff_max_s)
                continue
            backoff = self.backoff_min_s
            try:
                await self._serve(protocol)
            finally:
                await self._close(protocol)
            self.stats.disconnects += 1
            log.warning("serial %s: device lost (%s); reopening", self.url, self.stats.last_error)
            await self.clock.sleep(self.backoff_min_s)

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        transport, protocol = await serial_asyncio_fast.create_serial_connection(
            loop, lambda: _Protocol(self), self.url, baudrate=self.baudrate, exclusive=True
        )
        assert isinstance(protocol, _Protocol)
        self._transport = transport
        self.deframer._buf.clear()  # a partial frame from before the unplug is garbage
        self.stats.opens += 1
        self.last_rx = self.clock.monotonic()
        log.info("serial %s: open at %d baud", self.url, self.baudrate)
        return protocol

    async def _serve(self, protocol: _Protocol) -> None:
        self.connected.set()
        try:
            if self.discover_on_open:
                self._write(Discover())
            async with asyncio.TaskGroup() as tg:
                beat = tg.create_task(self._heartbeat(), name=f"serial-heartbeat {self.url}")
                await protocol.lost.wait()
                beat.cancel()
        finally:
            self.connected.clear()
            for _, fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(LinkDownError(self.url))

    async def _close(self, protocol: _Protocol) -> None:
        """Close the transport and wait for it to finish (it closes the port in an executor)."""
        transport, self._transport = self._transport, None
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await protocol.lost.wait()

    async def _heartbeat(self) -> None:
        while True:
            await self.clock.sleep(self.heartbeat_s)
            now = self.clock.monotonic()
            if now - self._last_tx >= self.heartbeat_s * 0.9:
                uptime = int(now - self._started)
                try:
                    self._write(Heartbeat(node=0, uptime_s=uptime))
                except LinkDownError:
                    return  # the transport is closing: _serve sees the loss and ends

    @property
    def silent_s(self) -> float:
        """Seconds since anything arrived on this link."""
        return self.clock.monotonic() - self.last_rx

    # ------------------------------------------------------------------ sending
    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def _write(self, message: Message, seq: int | None = None, node: int = 0) -> int:
        """Write ``message`` in the payload version of ``node`` (0, everyone: version 1)."""
        transport = self._transport
        if transport is None or transport.is_closing():
            raise LinkDownError(self.url)
        seq = self._next_seq() if seq is None else seq
        transport.write(encode_frame(message, seq, self.versions.get(node, 1) if node else 1))
        self._last_tx = self.clock.monotonic()
        self.stats.frames_out += 1
        return seq

    def post(self, message: Message) -> int:
        """Write a frame that needs no ACK (DISCOVER, PING, HEARTBEAT) now; returns its seq."""
        return self._write(message)

    async def send(self, message: Message) -> None:
        """Send a frame; for types that need an ACK, retransmit until ACKed (or raise)."""
        node = int(getattr(message, "node", 0))
        if not message.NEEDS_ACK:
            self._write(message, node=node)
            return
        seq = self._next_seq()
        key = (seq, message.TYPE)
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[key] = (node, fut)
        try:
            for attempt in range(self.retries + 1):
                if attempt:
                    self.stats.retries += 1
                self._write(message, seq, node)
                try:
                    reply = await asyncio.wait_for(asyncio.shield(fut), self.ack_timeout_s)
                except TimeoutError:
                    continue
                if isinstance(reply, Nack):
                    raise NackError(self.url, reply)
                return
            self.stats.lost += 1
            raise AckTimeoutError(self.url, type(message).__name__, seq, self.retries + 1)
        finally:
            self._pending.pop(key, None)
            if not fut.done():
                fut.cancel()

    # ----------------------------------------------------------------- liveness
    def check_nodes(self) -> tuple[list[int], list[int]]:
        """The nodes that fell silent for NODE_GONE_S since the last call, and those heard
        again after they had gone."""
        now = self.clock.monotonic()
        gone = [n for n, t in self.nodes.items() if now - t > NODE_GONE_S and n not in self.gone]
        back = [n for n in self.gone if now - self.nodes[n] <= NODE_GONE_S]
        self.gone.difference_update(back)
        self.gone.update(gone)
        self.stats.nodes_gone += len(gone)
        return gone, back

    def _log_rejections(self) -> None:
        """A line for rejected frames: at most one per REJECT_LOG_S, saying how many."""
        now = self.clock.monotonic()
        if now - self._reject_log_at < REJECT_LOG_S:
            return
        d = self.deframer
        n, self._rejected_logged, self._reject_log_at = (
            d.rejected_total - self._rejected_logged,
            d.rejected_total,
            now,
        )
        log.warning("serial %s: %d frame(s) rejected; the last: %s; its first bytes: %s",
                    self.url, n, d.last_error, d.last_rejected.hex(" "))  # fmt: skip

    # ---------------------------------------------------------------- receiving
    def _on_frame(self, frame: Frame) -> None:
        self.stats.frames_in += 1
        msg = frame.message
        node = getattr(msg, "node", None)
        if node and not isinstance(msg, Ack | Nack | SetLevel | Ping | Discover):
            self.nodes[int(node)] = self.last_rx  # heard from it (addressed frames name others)
        if isinstance(msg, Ack | Nack):
            pending = self._pending.get((msg.acked_seq, msg.acked_type))
            if pending is None:
                return
            node, fut = pending
            if msg.node is not None and msg.node != node:
                return  # another node's answer to a frame with the same seq
            if not fut.done():
                fut.set_result(msg)
            return
        if isinstance(msg, Hello):  # a new session: its seqs may start again from 1
            self.versions[msg.node] = frame.version
            for key in [k for k in self._recent if k[0] == msg.node]:
                del self._recent[key]
        if msg.NEEDS_ACK:
            node = int(getattr(msg, "node", 0))
            if self.auto_ack:
                version2 = self.versions.get(node, 1) == 2
                ack = Ack(acked_seq=frame.seq, acked_type=msg.TYPE, node=node if version2 else None)
                self._write(ack, node=node)
            recent = self._recent.setdefault((node, msg.TYPE), _Recent())
            if not recent.add(frame.seq, self.last_rx):
                self.stats.duplicates += 1  # a retransmission: ACKed again, not applied again
                return
        if self.frames.full():
            self.frames.get_nowait()
            self.stats.dropped += 1
        self.frames.put_nowait(frame)
