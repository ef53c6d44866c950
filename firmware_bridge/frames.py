"""The serial codec: frozen message dataclasses, frame encode/decode, and an incremental deframer.

Pure: bytes in, objects out. No asyncio, no serial, no clocks. PROTOCOL.md is normative.

Frame on the wire: ``COBS(payload || crc16_be(payload)) || 0x00`` with
``payload = version(1) type(1) seq(2, LE) body``; CRC-16/CCITT-FALSE (poly 0x1021,
init 0xFFFF) over the payload, big-endian.
"""

from __future__ import annotations

import struct
from binascii import crc_hqx
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from cobs import cobs

from edge.errors import FrameError

__all__ = [
    "KINDS",
    "MAX_ENCODED",
    "MAX_PAYLOAD",
    "PROTOCOL_VERSION",
    "Ack",
    "Counts",
    "Deframer",
    "Discover",
    "Frame",
    "Heartbeat",
    "Hello",
    "LampStatus",
    "Lux",
    "Message",
    "Nack",
    "Ping",
    "Pong",
    "SensorFaultReport",
    "SetLevel",
    "crc16",
    "decode_payload",
    "encode_frame",
]

PROTOCOL_VERSION = 1
MAX_PAYLOAD = 250
#: Longest frame between delimiters: COBS adds 1 byte per 254, plus the 2 CRC bytes.
MAX_ENCODED = MAX_PAYLOAD + 2 + 2
#: Road-user kinds in COUNTS, in wire order.
KINDS = ("car", "bike", "pedestrian")
SPEED_UNKNOWN = 0xFFFF
LEVEL_SCALE = 10000  # levels travel as 1/10000 (0.01 %)

# Capability bits in HELLO.
CAP_COUNTS, CAP_SPEED, CAP_LAMP, CAP_LUX, CAP_METERING = 1, 2, 4, 8, 16
# Flag bits in LAMP_STATUS.
FLAG_LAMP_FAILURE, FLAG_DRIVER_FAULT, FLAG_FAILSAFE, FLAG_DAY_BURNING, FLAG_OVERTEMP = (
    1,
    2,
    4,
    8,
    16,
)
# NACK reasons.
NACK_UNKNOWN_TYPE, NACK_BAD_FIELD, NACK_UNKNOWN_NODE, NACK_BUSY, NACK_VERSION = 1, 2, 3, 4, 5


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor."""
    return crc_hqx(data, 0xFFFF)


class Message:
    """Base of every message: ``TYPE`` on the wire, ``NEEDS_ACK`` for the retry rule."""

    TYPE: ClassVar[int]
    NEEDS_ACK: ClassVar[bool] = False

    def body(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def parse(cls, body: bytes) -> Message:
        raise NotImplementedError


def _u16(name: str, v: int) -> int:
    if not 0 <= v <= 0xFFFF:
        raise ValueError(f"{name} {v} outside 0..65535")
    return v


def _u32(name: str, v: int) -> int:
    if not 0 <= v <= 0xFFFFFFFF:
        raise ValueError(f"{name} {v} outside 0..4294967295")
    return v


def _level(v: float) -> int:
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"level {v} outside [0, 1]")
    return round(v * LEVEL_SCALE)


def _unpack(fmt: str, body: bytes, what: str) -> tuple[int, ...]:
    if len(body) != struct.calcsize(fmt):
        raise FrameError(
            "bad_field", f"{what} body is {len(body)} bytes, expected {struct.calcsize(fmt)}"
        )
    return struct.unpack(fmt, body)


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
                _u16("node", self.node),
                major,
                minor,
                patch,
                _u16("capabilities", self.capabilities),
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
        _unpack("<", body, "DISCOVER")
        return cls()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Token(Message):
    """PING and PONG share a layout: node u16, token u32."""

    node: int
    token: int

    def body(self) -> bytes:
        return struct.pack("<HI", _u16("node", self.node), _u32("token", self.token))

    @classmethod
    def parse(cls, body: bytes) -> _Token:
        node, token = _unpack("<HI", body, cls.__name__.upper())
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
        return struct.pack("<HI", _u16("node", self.node), _u32("uptime_s", self.uptime_s))

    @classmethod
    def parse(cls, body: bytes) -> Heartbeat:
        node, uptime = _unpack("<HI", body, "HEARTBEAT")
        return cls(node=node, uptime_s=uptime)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack(Message):
    """The frame with ``seq`` (of ``acked_type``) arrived and was applied."""

    TYPE: ClassVar[int] = 0x06
    acked_seq: int
    acked_type: int

    def body(self) -> bytes:
        return struct.pack("<HB", _u16("acked_seq", self.acked_seq), self.acked_type)

    @classmethod
    def parse(cls, body: bytes) -> Ack:
        seq, typ = _unpack("<HB", body, "ACK")
        return cls(acked_seq=seq, acked_type=typ)


@dataclass(frozen=True, slots=True, kw_only=True)
class Nack(Message):
    """The frame with ``seq`` arrived but was refused, for ``reason``."""

    TYPE: ClassVar[int] = 0x07
    acked_seq: int
    acked_type: int
    reason: int

    def body(self) -> bytes:
        return struct.pack("<HBB", _u16("acked_seq", self.acked_seq), self.acked_type, self.reason)

    @classmethod
    def parse(cls, body: bytes) -> Nack:
        seq, typ, reason = _unpack("<HBB", body, "NACK")
        return cls(acked_seq=seq, acked_type=typ, reason=reason)


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
            _u16("node", self.node),
            self.sensor,
            _u32("interval_ms", self.interval_ms),
            speed,
            len(self.forward),
        )
        pairs = b"".join(
            struct.pack("<HH", _u16("count", f), _u16("count", b))
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
            _u16("node", self.node),
            _level(self.level),
            _u16("power", power),
            _u32("energy_wh", self.energy_wh),
            _u16("flags", self.flags),
            _u32("lease_left_ms", self.lease_left_ms),
        )

    @classmethod
    def parse(cls, body: bytes) -> LampStatus:
        node, level, power, energy, flags, left = _unpack("<HHHIHI", body, "LAMP_STATUS")
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
        return struct.pack("<HI", _u16("node", self.node), _u32("lux", round(self.lux * 10)))

    @classmethod
    def parse(cls, body: bytes) -> Lux:
        node, dlx = _unpack("<HI", body, "LUX")
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
        return struct.pack("<HBB", _u16("node", self.node), self.sensor, self.code)

    @classmethod
    def parse(cls, body: bytes) -> SensorFaultReport:
        node, sensor, code = _unpack("<HBB", body, "SENSOR_FAULT")
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
            _u16("node", self.node),
            _level(self.level),
            _u32("lease_ms", self.lease_ms),
            _u32("lease_seq", self.lease_seq),
        )

    @classmethod
    def parse(cls, body: bytes) -> SetLevel:
        node, level, lease, seq = _unpack("<HHII", body, "SET_LEVEL")
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


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: the sender's sequence number and the message."""

    seq: int
    message: Message

    @property
    def type_name(self) -> str:
        return TYPE_NAMES[self.message.TYPE]


def encode_frame(message: Message, seq: int) -> bytes:
    """The bytes to put on the wire for ``message`` with sequence number ``seq``."""
    payload = struct.pack("<BBH", PROTOCOL_VERSION, message.TYPE, seq & 0xFFFF) + message.body()
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    encoded: bytes = cobs.encode(payload + crc16(payload).to_bytes(2, "big"))
    return encoded + b"\x00"


def decode_payload(payload: bytes) -> Frame:
    """A CRC-checked payload (version, type, seq, body) into a Frame; FrameError otherwise."""
    if len(payload) < 4:
        raise FrameError("length", f"payload of {len(payload)} bytes is shorter than its header")
    version, typ, seq = struct.unpack("<BBH", payload[:4])
    if version != PROTOCOL_VERSION:
        raise FrameError("version", f"protocol version {version}, expected {PROTOCOL_VERSION}")
    cls = MESSAGE_TYPES.get(typ)
    if cls is None:
        raise FrameError("unknown_type", f"message type 0x{typ:02x}")
    return Frame(seq, cls.parse(payload[4:]))


def decode_frame(encoded: bytes) -> Frame:
    """One frame's bytes between delimiters (without the 0x00) into a Frame."""
    if len(encoded) > MAX_ENCODED:
        raise FrameError("length", f"frame of {len(encoded)} bytes exceeds {MAX_ENCODED}")
    try:
        raw = cobs.decode(encoded)
    except cobs.DecodeError as exc:
        raise FrameError("cobs", str(exc)) from None
    if len(raw) < 6:
        raise FrameError("length", f"frame of {len(raw)} bytes is too short for header and CRC")
    payload, crc = raw[:-2], int.from_bytes(raw[-2:], "big")
    if crc16(payload) != crc:
        raise FrameError("crc", f"CRC 0x{crc:04x} does not match 0x{crc16(payload):04x}")
    return decode_payload(payload)


@dataclass
class Deframer:
    """Incremental: feed any chunks, get whole good frames; count every rejection by reason.

    After a bad frame it resynchronises at the next 0x00. Bytes beyond MAX_ENCODED without a
    delimiter are dropped (counted once as "length") until the next 0x00.
    """

    rejected: Counter[str] = field(default_factory=Counter)
    frames_ok: int = 0
    bytes_in: int = 0
    last_error: str = ""
    _buf: bytearray = field(default_factory=bytearray)
    _discarding: bool = False

    def feed(self, data: bytes) -> Iterator[Frame]:
        """Yield each complete good frame in ``data`` (plus what was buffered before)."""
        self.bytes_in += len(data)
        start = 0
        while True:
            end = data.find(b"\x00", start)
            if end < 0:
                self._take(data[start:])
                return
            self._take(data[start:end])
            chunk, discarding = bytes(self._buf), self._discarding
            self._buf.clear()
            self._discarding = False
            start = end + 1
            if discarding or not chunk:
                continue  # an overlong run already counted, or an idle/flush delimiter
            try:
                frame = decode_frame(chunk)
            except FrameError as exc:
                self.rejected[exc.reason] += 1
                self.last_error = str(exc)
                continue
            self.frames_ok += 1
            yield frame

    def _take(self, part: bytes) -> None:
        if self._discarding or not part:
            return
        self._buf += part
        if len(self._buf) > MAX_ENCODED:
            self.rejected["length"] += 1
            self.last_error = f"length: more than {MAX_ENCODED} bytes without a delimiter"
            self._buf.clear()
            self._discarding = True

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())
