"""Serial message types: frozen dataclasses with their byte layouts (PROTOCOL.md section 4).

Pure: each message packs to and parses from its body bytes; framing lives in ``frames``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from firmware_bridge._wire import (
    LEVEL_SCALE,
    SENSOR_FAULT_CODES,
    SPEED_UNKNOWN,
    Message,
    check_level,
    check_u16,
    check_u32,
    unpack,
)
from firmware_bridge.errors import FrameError

__all__ = [
    "MESSAGE_TYPES",
    "TYPE_NAMES",
    "Ack",
    "Counts",
    "Discover",
    "Heartbeat",
    "Hello",
    "LampStatus",
    "Lux",
    "Nack",
    "Ping",
    "Pong",
    "SensorFaultReport",
    "SetLevel",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello(Message):
    """A node introduces itself (answer to DISCOVER, and at power-on)."""

    TYPE: ClassVar[int] = 0x01
    node: int
    firmware: tuple[int, int, int]
    capabilities: int
    model: str = ""

    def body(self) -> bytes:
        model = self.model.encode("utf-8")
        if len(model) > 32:
            raise ValueError("model name longer than 32 bytes")
        major, minor, patch = self.firmware
        return (
            struct.pack(
                "<HBBBHB",
                check_u16("node", self.node),
                major,
                minor,
                patch,
                check_u16("capabilities", self.capabilities),
                len(model),
            )
            + model
        )

    @classmethod
    def parse(cls, body: bytes) -> Hello:
        if len(body) < 8:
            raise FrameError("bad_field", f"HELLO body is {len(body)} bytes, expected >= 8")
        node, major, minor, patch, caps, n = struct.unpack("<HBBBHB", body[:8])
        if len(body) != 8 + n or n > 32:
            raise FrameError("bad_field", f"HELLO model length {n} does not match the body")
        try:
            model = body[8:].decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError("bad_field", "HELLO model is not UTF-8") from None
        return cls(node=node, firmware=(major, minor, patch), capabilities=caps, model=model)

    @property
    def firmware_version(self) -> str:
        return ".".join(map(str, self.firmware))


@dataclass(frozen=True, slots=True, kw_only=True)
class Discover(Message):
    """Gateway to every node: answer with HELLO."""

    TYPE: ClassVar[int] = 0x02

    def body(self) -> bytes:
        return b""

    @classmethod
    def parse(cls, body: bytes) -> Discover:
        unpack("<", body, "DISCOVER")
        return cls()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Token(Message):
    """PING and PONG share a layout: node u16, token u32."""

    node: int
    token: int

    def body(self) -> bytes:
        return struct.pack("<HI", check_u16("node", self.node), check_u32("token", self.token))

    @classmethod
    def parse(cls, body: bytes) -> _Token:
        node, token = unpack("<HI", body, cls.__name__.upper())
        return cls(node=node, token=token)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping(_Token):
    """Either way: answer PONG with the same token (round-trip time); node = the addressee."""

    TYPE: ClassVar[int] = 0x03


@dataclass(frozen=True, slots=True, kw_only=True)
class Pong(_Token):
    """The answer to PING, from ``node``, with its token."""

    TYPE: ClassVar[int] = 0x04


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat(Message):
    """Either way, every heartbeat period: I am alive (node 0 is the gateway)."""

    TYPE: ClassVar[int] = 0x05
    node: int
    uptime_s: int

    def body(self) -> bytes:
        return struct.pack(
            "<HI", check_u16("node", self.node), check_u32("uptime_s", self.uptime_s)
        )

    @classmethod
    def parse(cls, body: bytes) -> Heartbeat:
        node, uptime = unpack("<HI", body, "HEARTBEAT")
        return cls(node=node, uptime_s=uptime)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack(Message):
    """The frame with ``seq`` (of ``acked_type``) arrived and was applied. ``node``: in version 2
    the node the ACK is for (from the gateway) or from (from a node); None in version 1."""

    TYPE: ClassVar[int] = 0x06
    acked_seq: int
    acked_type: int
    node: int | None = None

    def body(self) -> bytes:
        head = struct.pack("<HB", check_u16("acked_seq", self.acked_seq), self.acked_type)
        return head if self.node is None else head + struct.pack("<H", check_u16("node", self.node))

    @classmethod
    def parse(cls, body: bytes) -> Ack:
        seq, typ = unpack("<HB", body, "ACK")
        return cls(acked_seq=seq, acked_type=typ)

    @classmethod
    def parse_v2(cls, body: bytes) -> Ack:
        seq, typ, node = unpack("<HBH", body, "ACK")
        return cls(acked_seq=seq, acked_type=typ, node=node)


@dataclass(frozen=True, slots=True, kw_only=True)
class Nack(Message):
    """The frame with ``seq`` arrived but was refused, for ``reason``; ``node`` as in ACK."""

    TYPE: ClassVar[int] = 0x07
    acked_seq: int
    acked_type: int
    reason: int
    node: int | None = None

    def body(self) -> bytes:
        head = struct.pack(
            "<HBB", check_u16("acked_seq", self.acked_seq), self.acked_type, self.reason
        )
        return head if self.node is None else head + struct.pack("<H", check_u16("node", self.node))

    @classmethod
    def parse(cls, body: bytes) -> Nack:
        seq, typ, reason = unpack("<HBB", body, "NACK")
        return cls(acked_seq=seq, acked_type=typ, reason=reason)

    @classmethod
    def parse_v2(cls, body: bytes) -> Nack:
        seq, typ, reason, node = unpack("<HBBH", body, "NACK")
        return cls(acked_seq=seq, acked_type=typ, reason=reason, node=node)


@dataclass(frozen=True, slots=True, kw_only=True)
class Counts(Message):
    """Road users past a sensor in the last interval, per kind and direction."""

    TYPE: ClassVar[int] = 0x10
    NEEDS_ACK: ClassVar[bool] = True
    node: int
    sensor: int
    interval_ms: int
    forward: tuple[int, ...]
    backward: tuple[int, ...]
    mean_speed_cms: int | None = None

    def body(self) -> bytes:
        if len(self.forward) != len(self.backward) or not 0 < len(self.forward) <= 8:
            raise ValueError("forward and backward need the same number of kinds (1..8)")
        speed = self.mean_speed_cms
        if speed is None:
            speed = SPEED_UNKNOWN
        elif not 0 <= speed < SPEED_UNKNOWN:
            raise ValueError(f"mean speed {speed} cm/s outside 0..65534")
        head = struct.pack(
            "<HBIHB",
            check_u16("node", self.node),
            self.sensor,
            check_u32("interval_ms", self.interval_ms),
            speed,
            len(self.forward),
        )
        pairs = b"".join(
            struct.pack("<HH", check_u16("count", f), check_u16("count", b))
            for f, b in zip(self.forward, self.backward, strict=True)
        )
        return head + pairs

    @classmethod
    def parse(cls, body: bytes) -> Counts:
        if len(body) < 10:
            raise FrameError("bad_field", f"COUNTS body is {len(body)} bytes, expected >= 10")
        node, sensor, interval, speed, n = struct.unpack("<HBIHB", body[:10])
        if n == 0 or n > 8 or len(body) != 10 + 4 * n:
            raise FrameError(
                "bad_field", f"COUNTS with {n} kinds does not match its {len(body)} bytes"
            )
        if interval == 0:
            raise FrameError("bad_field", "COUNTS interval is 0 ms")
        pairs = struct.unpack(f"<{2 * n}H", body[10:])
        return cls(
            node=node,
            sensor=sensor,
            interval_ms=interval,
            forward=pairs[0::2],
            backward=pairs[1::2],
            mean_speed_cms=None if speed == SPEED_UNKNOWN else speed,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LampStatus(Message):
    """What a lamp node is doing: level, power, energy, flags, lease time left."""

    TYPE: ClassVar[int] = 0x11
    node: int
    level: float
    power_w: float
    energy_wh: int
    flags: int
    lease_left_ms: int

    def body(self) -> bytes:
        power = round(self.power_w * 10)
        return struct.pack(
            "<HHHIHI",
            check_u16("node", self.node),
            check_level(self.level),
            check_u16("power", power),
            check_u32("energy_wh", self.energy_wh),
            check_u16("flags", self.flags),
            check_u32("lease_left_ms", self.lease_left_ms),
        )

    @classmethod
    def parse(cls, body: bytes) -> LampStatus:
        node, level, power, energy, flags, left = unpack("<HHHIHI", body, "LAMP_STATUS")
        if level > LEVEL_SCALE:
            raise FrameError("bad_field", f"LAMP_STATUS level {level} above {LEVEL_SCALE}")
        return cls(
            node=node,
            level=level / LEVEL_SCALE,
            power_w=power / 10,
            energy_wh=energy,
            flags=flags,
            lease_left_ms=left,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Lux(Message):
    """Ambient light at a node, in lux."""

    TYPE: ClassVar[int] = 0x12
    node: int
    lux: float

    def body(self) -> bytes:
        return struct.pack(
            "<HI", check_u16("node", self.node), check_u32("lux", round(self.lux * 10))
        )

    @classmethod
    def parse(cls, body: bytes) -> Lux:
        node, dlx = unpack("<HI", body, "LUX")
        return cls(node=node, lux=dlx / 10)


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorFaultReport(Message):
    """A sensor node's self-test verdict: code 0 = healthy again."""

    TYPE: ClassVar[int] = 0x13
    NEEDS_ACK: ClassVar[bool] = True
    node: int
    sensor: int
    code: int

    def body(self) -> bytes:
        if self.code not in SENSOR_FAULT_CODES:
            raise ValueError(f"sensor fault code {self.code} is not one of {SENSOR_FAULT_CODES}")
        return struct.pack("<HBB", check_u16("node", self.node), self.sensor, self.code)

    @classmethod
    def parse(cls, body: bytes) -> SensorFaultReport:
        node, sensor, code = unpack("<HBB", body, "SENSOR_FAULT")
        if code not in SENSOR_FAULT_CODES:
            raise FrameError("bad_field", f"SENSOR_FAULT code {code} is not defined")
        return cls(node=node, sensor=sensor, code=code)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetLevel(Message):
    """Gateway to lamp node: hold ``level`` for ``lease_ms``, then fall back to failsafe."""

    TYPE: ClassVar[int] = 0x20
    NEEDS_ACK: ClassVar[bool] = True
    node: int
    level: float
    lease_ms: int
    lease_seq: int

    def body(self) -> bytes:
        return struct.pack(
            "<HHII",
            check_u16("node", self.node),
            check_level(self.level),
            check_u32("lease_ms", self.lease_ms),
            check_u32("lease_seq", self.lease_seq),
        )

    @classmethod
    def parse(cls, body: bytes) -> SetLevel:
        node, level, lease, seq = unpack("<HHII", body, "SET_LEVEL")
        if level > LEVEL_SCALE:
            raise FrameError("bad_field", f"SET_LEVEL level {level} above {LEVEL_SCALE}")
        return cls(node=node, level=level / LEVEL_SCALE, lease_ms=lease, lease_seq=seq)


MESSAGE_TYPES: dict[int, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        Hello,
        Discover,
        Ping,
        Pong,
        Heartbeat,
        Ack,
        Nack,
        Counts,
        LampStatus,
        Lux,
        SensorFaultReport,
        SetLevel,
    )
}
TYPE_NAMES = {
    0x01: "HELLO",
    0x02: "DISCOVER",
    0x03: "PING",
    0x04: "PONG",
    0x05: "HEARTBEAT",
    0x06: "ACK",
    0x07: "NACK",
    0x10: "COUNTS",
    0x11: "LAMP_STATUS",
    0x12: "LUX",
    0x13: "SENSOR_FAULT",
    0x20: "SET_LEVEL",
}
