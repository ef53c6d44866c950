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
    CAP_METERING,
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

__all__ = ["BitErrors", "FakeBus", "FakeNode", "LampState"]
ACK_TIMEOUT_S = 0.25
RETRIES = 3


@dataclass
class LampState:
    """A lamp node's lease state and its driver's energy counter."""

    failsafe_level: float = 1.0
    nominal_w: float = 60.0
    level: float = 1.0  # power-on: full until a lease arrives
    lease_until: float = 0.0
    lease_seq: int | None = None  # the last applied; None: any is taken (power-on, HELLO)
    energy_wh: float = 0.0
    setpoints: list[SetLevel] = field(default_factory=list)

    def level_at(self, now: float) -> float:
        return self.level if now < self.lease_until else self.failsafe_level

    def in_failsafe(self, now: float) -> bool:
        return now >= self.lease_until

    def newer(self, lease_seq: int) -> bool:
        """Is ``lease_seq`` newer than the last applied (u32 serial-number arithmetic)?"""
        if self.lease_seq is None:
            return True
        return 0 < (lease_seq - self.lease_seq) % 2**32 < 2**31


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
        nominal_w: float = 60.0,
        status_s: float = 30.0,
        heartbeat_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        line: Callable[[bytes], bytes] | None = None,
        version: int = 1,
    ) -> None:
        """``line`` stands for the wire: every write passes through it (``BitErrors``). A lamp
        node sends LAMP_STATUS every ``status_s`` and at once when its flags change; a node that
        sent nothing for ``heartbeat_s`` sends HEARTBEAT. ``version``:
        the payload version it speaks (2: ACK and NACK name their node)."""
        self.node, self.firmware, self.model = node, firmware, model
        self.version = version
        self.line = line
        caps = CAP_COUNTS | CAP_SPEED if counts else 0
        caps |= CAP_LAMP | CAP_METERING if lamp else 0
        self.capabilities = caps
        self.lamp = LampState(failsafe_level=failsafe_level, nominal_w=nominal_w) if lamp else None
        self.status_s = status_s
        self.heartbeat_s = heartbeat_s
        self.clock = clock
        self._started = self._last_tx = clock()
        self._lamp_t = clock()
        self._next_status = 0.0
        self._flags = -1
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
        wire = encode_frame(message, seq, self.version)
        if message.NEEDS_ACK:
            self._unacked[seq] = (wire, 0, self.clock())
        self._write(wire)
        self._last_tx = self.clock()
        return seq

    def inject(self, raw: bytes) -> None:
        """Put raw bytes on the line (line noise, a corrupted frame) for tests."""
        self._write(raw)

    def feed(self, data: bytes) -> None:
        for frame in self.deframer.feed(data):
            if frame.version > self.version:
                continue  # a later version than this firmware's: dropped as unknown
            self.received.append(frame)
            handler = self._handlers.get(type(frame.message))
            if handler is not None:
                handler(frame)

    def _reply(self, message: Message) -> None:
        self._write(encode_frame(message, self._next_seq(), self.version))
        self._last_tx = self.clock()

    def _on_discover(self, frame: Frame) -> None:
        self.announce()

    def announce(self) -> None:
        """Send HELLO: a new session, so the next lease is taken whatever its lease_seq."""
        if self.lamp is not None:
            self.lamp.lease_seq = None
        self._reply(self.hello())

    def reboot(self) -> None:
        """Power-cycle: the lamp at full without a lease, seqs from 1 again, then HELLO."""
        if self.lamp is not None:
            self.lamp.level, self.lamp.lease_until = 1.0, 0.0
        self._seq = 0
        self._unacked.clear()
        self.deframer = Deframer()
        self.announce()

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
        if self.version == 2 and msg.node != self.node:
            return  # for another node on the bus (a version 1 ACK names none: not taken)
        if self._unacked.pop(msg.acked_seq, None) is not None and isinstance(msg, Ack):
            self.acked.add(msg.acked_seq)

    def _on_set_level(self, frame: Frame) -> None:
        msg = frame.message
        assert isinstance(msg, SetLevel)
        if msg.node != self.node:
            return  # for another node on the bus
        me = self.node if self.version == 2 else None
        if self.lamp is None:
            self._reply(Nack(acked_seq=frame.seq, acked_type=SetLevel.TYPE, reason=1, node=me))
            return
        self._reply(Ack(acked_seq=frame.seq, acked_type=SetLevel.TYPE, node=me))
        if not self.lamp.newer(msg.lease_seq):
            return  # stale or a retransmission: ACKed, not applied again
        self._integrate()
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

    def status(self) -> LampStatus:
        assert self.lamp is not None
        now = self.clock()
        self._integrate()
        level = self.lamp.level_at(now)
        left = max(0, int((self.lamp.lease_until - now) * 1000))
        return LampStatus(
            node=self.node,
            level=level,
            power_w=round(self.lamp.nominal_w * level, 1),
            energy_wh=int(self.lamp.energy_wh),
            flags=self._lamp_flags(now),
            lease_left_ms=left,
        )

    def _lamp_flags(self, now: float) -> int:
        assert self.lamp is not None
        return FLAG_FAILSAFE if self.lamp.in_failsafe(now) else 0

    def _integrate(self) -> None:
        """The driver's meter: power (nominal x level) over the time since the last call."""
        if self.lamp is None:
            return
        now = self.clock()
        last, self._lamp_t = self._lamp_t, now
        level = self.lamp.level if last < self.lamp.lease_until else self.lamp.failsafe_level
        self.lamp.energy_wh += self.lamp.nominal_w * level * max(0.0, now - last) / 3600.0

    def tick(self) -> None:
        """What the main loop does between frames: retransmissions, a lamp's status, a
        heartbeat when it has been quiet."""
        self.retransmit_due()
        now = self.clock()
        if now - self._last_tx >= self.heartbeat_s:
            self._reply(Heartbeat(node=self.node, uptime_s=int(now - self._started)))
        if self.lamp is None:
            return
        flags = self._lamp_flags(now)
        if now >= self._next_status or flags != self._flags:
            self._flags, self._next_status = flags, now + self.status_s
            self._reply(self.status())

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
        await FakeBus(self).serve_pty(master_fd)

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
                    self.tick()
                    continue
                if not chunk:
                    return
                self.feed(chunk)
                self.tick()
        finally:
            self._write = lambda data: None
            writer.close()


class FakeBus:
    """Nodes sharing one line (an RS-485 bus): every node hears what the gateway sends and
    answers only what is for it; what each node sends reaches the gateway."""

    def __init__(self, *nodes: FakeNode) -> None:
        self.nodes = nodes

    async def serve_pty(self, master_fd: int) -> None:
        """Serve on a pty master until cancelled (or the gateway end goes away)."""
        loop = asyncio.get_running_loop()
        os.set_blocking(master_fd, False)
        data_ready = asyncio.Event()

        def writer(node: FakeNode) -> Callable[[bytes], None]:
            def write(data: bytes) -> None:
                with contextlib.suppress(BlockingIOError, OSError):
                    os.write(master_fd, node.line(data) if node.line else data)

            return write

        for node in self.nodes:
            node._write = writer(node)
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
                for node in self.nodes:
                    if chunk:
                        node.feed(chunk)
                    node.tick()
        finally:
            loop.remove_reader(master_fd)
            for node in self.nodes:
                node._write = lambda data: None
