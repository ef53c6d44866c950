"""A fake sensor/lamp node that speaks PROTOCOL.md on the far end of a pty (or a TCP socket).

It answers DISCOVER with HELLO and PING with PONG, ACKs what needs an ACK, obeys SET_LEVEL
leases (falling back to its failsafe level when a lease lapses), sends COUNTS and retransmits
them until ACKed, and reports LAMP_STATUS. Handlers are looked up per message type, in the
style of a firmware main loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from firmware_bridge.frames import (
    CAP_COUNTS,
    CAP_LAMP,
    CAP_SPEED,
    FLAG_FAILSAFE,
    Ack,
    Counts,
    Deframer,
    Discover,
    Frame,
    Heartbeat,
    Hello,
    LampStatus,
    Message,
    Nack,
    Ping,
    Pong,
    SetLevel,
    encode_frame,
)

__all__ = ["BitErrors", "FakeNode", "LampState"]
ACK_TIMEOUT_S = 0.25
RETRIES = 3


@dataclass
class LampState:
    """A lamp node's lease state."""

    failsafe_level: float = 1.0
    level: float = 1.0  # power-on: full until a lease arrives
    lease_until: float = 0.0
    lease_seq: int = -1
    setpoints: list[SetLevel] = field(default_factory=list)

    def level_at(self, now: float) -> float:
        return self.level if now < self.lease_until else self.failsafe_level

    def in_failsafe(self, now: float) -> bool:
        return now >= self.lease_until


class BitErrors:
    """A noisy wire: flips each bit with probability ``ber``; remembers what it let through."""

    def __init__(self, ber: float, seed: int = 0) -> None:
        self.ber, self.rng = ber, np.random.default_rng(seed)
        self.flips = 0
        self.corrupted = 0  # writes with at least one flipped bit
        self.intact: set[bytes] = set()  # writes that crossed the wire unchanged

    def __call__(self, data: bytes) -> bytes:
        n = self.rng.binomial(len(data) * 8, self.ber)
        if n == 0:
            self.intact.add(data)
            return data
        buf = bytearray(data)
        for bit in self.rng.choice(len(data) * 8, size=n, replace=False):
            buf[bit // 8] ^= 1 << (bit % 8)
        self.flips += n
        self.corrupted += 1
        return bytes(buf)


class FakeNode:
    """One node on a serial line. ``clock`` returns seconds (virtual time in the simulator)."""

    def __init__(
        self,
        *,
        node: int = 17,
        firmware: tuple[int, int, int] = (1, 0, 0),
        model: str = "sim-node",
        counts: bool = True,
        lamp: bool = False,
        failsafe_level: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        line: Callable[[bytes], bytes] | None = None,
    ) -> None:
        """``line`` stands for the wire: every write passes through it (``BitErrors``)."""
        self.node, self.firmware, self.model = node, firmware, model
        self.line = line
        caps = (CAP_COUNTS | CAP_SPEED if counts else 0) | (CAP_LAMP if lamp else 0)
        self.capabilities = caps
        self.lamp = LampState(failsafe_level=failsafe_level) if lamp else None
        self.clock = clock
        self.deframer = Deframer()
        self.received: list[Frame] = []
        self.acked: set[int] = set()
        self._seq = 0
        self._unacked: dict[int, tuple[bytes, int, float]] = {}  # seq -> (wire, tries, sent at)
        self._write: Callable[[bytes], None] = lambda data: None
        self._handlers: dict[type[Message], Callable[[Frame], None]] = {
            Discover: self._on_discover,
            Ping: self._on_ping,
            SetLevel: self._on_set_level,
            Ack: self._on_ack,
            Nack: self._on_ack,
            Heartbeat: lambda frame: None,
        }

    # ------------------------------------------------------------- protocol
    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def send(self, message: Message) -> int:
        seq = self._next_seq()
        wire = encode_frame(message, seq)
        if message.NEEDS_ACK:
            self._unacked[seq] = (wire, 0, self.clock())
        self._write(wire)
        return seq

    def inject(self, raw: bytes) -> None:
        """Put raw bytes on the line (line noise, a corrupted frame) for tests."""
        self._write(raw)

    def feed(self, data: bytes) -> None:
        for frame in self.deframer.feed(data):
            self.received.append(frame)
            handler = self._handlers.get(type(frame.message))
            if handler is not None:
                handler(frame)

    def _reply(self, message: Message) -> None:
        self._write(encode_frame(message, self._next_seq()))

    def _on_discover(self, frame: Frame) -> None:
        self._reply(self.hello())

    def hello(self) -> Hello:
        return Hello(
            node=self.node, firmware=self.firmware, capabilities=self.capabilities, model=self.model
        )

    def _on_ping(self, frame: Frame) -> None:
        msg = frame.message
        assert isinstance(msg, Ping)
        if msg.node == self.node:
            self._reply(Pong(node=self.node, token=msg.token))

    def _on_ack(self, frame: Frame) -> None:
        msg = frame.message
        assert isinstance(msg, Ack | Nack)
        if self._unacked.pop(msg.acked_seq, None) is not None and isinstance(msg, Ack):
            self.acked.add(msg.acked_seq)

    def _on_set_level(self, frame: Frame) -> None:
        msg = frame.message
        assert isinstance(msg, SetLevel)
        if msg.node != self.node:
            return  # for another node on the bus
        if self.lamp is None:
            self._reply(Nack(acked_seq=frame.seq, acked_type=SetLevel.TYPE, reason=1))
            return
        self._reply(Ack(acked_seq=frame.seq, acked_type=SetLevel.TYPE))
        if msg.lease_seq <= self.lamp.lease_seq:
            return  # stale or a retransmission: ACKed, not applied again
        self.lamp.lease_seq = msg.lease_seq
        self.lamp.level = msg.level
        self.lamp.lease_until = self.clock() + msg.lease_ms / 1000
        self.lamp.setpoints.append(msg)

    def send_counts(
        self,
        forward: tuple[int, ...],
        backward: tuple[int, ...],
        *,
        interval_ms: int = 10_000,
        speed_cms: int | None = None,
        sensor: int = 0,
    ) -> int:
        return self.send(
            Counts(
                node=self.node,
                sensor=sensor,
                interval_ms=interval_ms,
                forward=forward,
                backward=backward,
                mean_speed_cms=speed_cms,
            )
        )

    def status(self, nominal_w: float = 60.0) -> LampStatus:
        assert self.lamp is not None
        now = self.clock()
        level = self.lamp.level_at(now)
        flags = FLAG_FAILSAFE if self.lamp.in_failsafe(now) else 0
        left = max(0, int((self.lamp.lease_until - now) * 1000))
        return LampStatus(
            node=self.node,
            level=level,
            power_w=round(nominal_w * level, 1),
            energy_wh=0,
            flags=flags,
            lease_left_ms=left,
        )

    def retransmit_due(self) -> None:
        """Resend COUNTS not ACKed within 250 ms; give up after 3 retransmissions."""
        now = self.clock()
        for seq, (wire, tries, sent) in list(self._unacked.items()):
            if now - sent >= ACK_TIMEOUT_S:
                if tries >= RETRIES:
                    del self._unacked[seq]
                else:
                    self._unacked[seq] = (wire, tries + 1, now)
                    self._write(wire)

    # ---------------------------------------------------------------- serving
    async def serve_pty(self, master_fd: int) -> None:
        """Serve on a pty master until cancelled (or the gateway end goes away)."""
        loop = asyncio.get_running_loop()
        os.set_blocking(master_fd, False)
        data_ready = asyncio.Event()

        def write(data: bytes) -> None:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(master_fd, self.line(data) if self.line else data)

        self._write = write
        loop.add_reader(master_fd, data_ready.set)
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(ACK_TIMEOUT_S / 2):
                        await data_ready.wait()
                data_ready.clear()
                try:
                    chunk = os.read(master_fd, 4096)
                except BlockingIOError:
                    chunk = b""
                except OSError:
                    await asyncio.sleep(0.05)  # no gateway on the other end yet (EIO)
                    chunk = b""
                if chunk:
                    self.feed(chunk)
                self.retransmit_due()
        finally:
            loop.remove_reader(master_fd)
            self._write = lambda data: None

    async def serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one TCP connection (a pyserial ``socket://`` URL on the gateway side)."""
        line = self.line
        self._write = (lambda data: writer.write(line(data))) if line else writer.write
        try:
            while True:
                try:
                    async with asyncio.timeout(ACK_TIMEOUT_S / 2):
                        chunk = await reader.read(4096)
                except TimeoutError:
                    self.retransmit_due()
                    continue
                if not chunk:
                    return
                self.feed(chunk)
                self.retransmit_due()
        finally:
            self._write = lambda data: None
            writer.close()
