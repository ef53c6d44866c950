"""The serial codec: frame encode/decode, and an incremental deframer.

Pure: bytes in, objects out. No asyncio, no serial, no clocks. PROTOCOL.md is normative.
The message dataclasses live in ``_messages`` and are re-exported here.

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

from cobs import cobs

from firmware_bridge._messages import (
    MESSAGE_TYPES,
    TYPE_NAMES,
    Ack,
    Counts,
    Discover,
    Heartbeat,
    Hello,
    LampStatus,
    Lux,
    Nack,
    Ping,
    Pong,
    SensorFaultReport,
    SetLevel,
)
from firmware_bridge._wire import (
    CAP_COUNTS,
    CAP_LAMP,
    CAP_LUX,
    CAP_METERING,
    CAP_SPEED,
    FLAG_DAY_BURNING,
    FLAG_DRIVER_FAULT,
    FLAG_FAILSAFE,
    FLAG_LAMP_FAILURE,
    FLAG_OVERTEMP,
    KINDS,
    LEVEL_SCALE,
    NACK_BAD_FIELD,
    NACK_BUSY,
    NACK_UNKNOWN_NODE,
    NACK_UNKNOWN_TYPE,
    NACK_VERSION,
    SENSOR_FAULT_CODES,
    SPEED_UNKNOWN,
    Message,
)
from firmware_bridge.errors import FrameError

__all__ = [
    "CAP_COUNTS", "CAP_LAMP", "CAP_LUX", "CAP_METERING", "CAP_SPEED",
    "FLAG_DAY_BURNING", "FLAG_DRIVER_FAULT", "FLAG_FAILSAFE", "FLAG_LAMP_FAILURE",
    "FLAG_OVERTEMP", "KINDS", "LEVEL_SCALE", "MAX_ENCODED", "MAX_PAYLOAD", "MESSAGE_TYPES",
    "NACK_BAD_FIELD", "NACK_BUSY", "NACK_UNKNOWN_NODE", "NACK_UNKNOWN_TYPE", "NACK_VERSION",
    "PROTOCOL_VERSION", "SENSOR_FAULT_CODES", "SPEED_UNKNOWN", "TYPE_NAMES", "VERSIONS",
    "Ack", "Counts", "Deframer", "Discover", "Frame", "Heartbeat", "Hello", "LampStatus",
    "Lux", "Message", "Nack", "Ping", "Pong", "SensorFaultReport", "SetLevel",
    "crc16", "decode_frame", "decode_payload", "encode_frame",
]  # fmt: skip

PROTOCOL_VERSION = 1
#: The payload versions this codec speaks: 2 differs from 1 only in ACK and NACK, which name
#: the node they are for (on a shared bus, two nodes may use the same seq).
VERSIONS = (1, 2)
MAX_PAYLOAD = 250
#: Longest frame between delimiters: COBS adds 1 byte per 254, plus the 2 CRC bytes.
MAX_ENCODED = MAX_PAYLOAD + 2 + 2
#: Road-user kinds in COUNTS, in wire order.


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor."""
    return crc_hqx(data, 0xFFFF)


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: the sender's sequence number, the message, the payload version."""

    seq: int
    message: Message
    version: int = PROTOCOL_VERSION

    @property
    def type_name(self) -> str:
        return TYPE_NAMES[self.message.TYPE]


def encode_frame(message: Message, seq: int, version: int = PROTOCOL_VERSION) -> bytes:
    """The bytes to put on the wire for ``message`` with sequence number ``seq``, in payload
    ``version`` (an ACK or NACK names its node in version 2 and only there)."""
    if version not in VERSIONS:
        raise ValueError(f"payload version {version} is not one of {VERSIONS}")
    if isinstance(message, Ack | Nack) and (message.node is None) != (version == 1):
        raise ValueError(f"{type(message).__name__} names its node in version 2 and only there")
    payload = struct.pack("<BBH", version, message.TYPE, seq & 0xFFFF) + message.body()
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    encoded: bytes = cobs.encode(payload + crc16(payload).to_bytes(2, "big"))
    return encoded + b"\x00"


def decode_payload(payload: bytes) -> Frame:
    """A CRC-checked payload (version, type, seq, body) into a Frame; FrameError otherwise."""
    if len(payload) < 4:
        raise FrameError("length", f"payload of {len(payload)} bytes is shorter than its header")
    version, typ, seq = struct.unpack("<BBH", payload[:4])
    if version not in VERSIONS:
        raise FrameError("version", f"payload version {version}, expected one of {VERSIONS}")
    cls = MESSAGE_TYPES.get(typ)
    if cls is None:
        raise FrameError("unknown_type", f"message type 0x{typ:02x}")
    if version == 2 and (cls is Ack or cls is Nack):
        return Frame(seq, cls.parse_v2(payload[4:]), version)
    return Frame(seq, cls.parse(payload[4:]), version)


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
    last_rejected: bytes = b""  # the first bytes of the last frame rejected
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
                self.last_rejected = chunk[:16]
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
            self.last_rejected = bytes(self._buf[:16])
            self._buf.clear()
            self._discarding = True

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())
