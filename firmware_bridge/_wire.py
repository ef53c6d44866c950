"""What every serial message shares: the protocol's constants, the message base class, and
the field checks the layouts use (PROTOCOL.md sections 3 and 4)."""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from typing import ClassVar

from firmware_bridge.errors import FrameError

__all__ = [
    "CAP_COUNTS",
    "CAP_LAMP",
    "CAP_LUX",
    "CAP_METERING",
    "CAP_SPEED",
    "FLAG_DAY_BURNING",
    "FLAG_DRIVER_FAULT",
    "FLAG_FAILSAFE",
    "FLAG_LAMP_FAILURE",
    "FLAG_OVERTEMP",
    "KINDS",
    "LEVEL_SCALE",
    "NACK_BAD_FIELD",
    "NACK_BUSY",
    "NACK_UNKNOWN_NODE",
    "NACK_UNKNOWN_TYPE",
    "NACK_VERSION",
    "SENSOR_FAULT_CODES",
    "SPEED_UNKNOWN",
    "Message",
    "check_level",
    "check_u16",
    "check_u32",
    "unpack",
]

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
#: SENSOR_FAULT codes (PROTOCOL.md section 4 has the same table; a test holds them equal).
SENSOR_FAULT_CODES = {
    0: "healthy again",
    1: "blinded or obstructed",
    2: "tamper",
    3: "hardware fault",
}
# NACK reasons.
NACK_UNKNOWN_TYPE, NACK_BAD_FIELD, NACK_UNKNOWN_NODE, NACK_BUSY, NACK_VERSION = 1, 2, 3, 4, 5


class Message(ABC):
    """Base of every message: ``TYPE`` on the wire, ``NEEDS_ACK`` for the retry rule."""

    __slots__ = ()
    TYPE: ClassVar[int]
    NEEDS_ACK: ClassVar[bool] = False

    @abstractmethod
    def body(self) -> bytes:
        """The message's body bytes (after the 4-byte header)."""

    @classmethod
    @abstractmethod
    def parse(cls, body: bytes) -> Message:
        """The message from its body bytes; FrameError when malformed."""


def check_u16(name: str, v: int) -> int:
    if not 0 <= v <= 0xFFFF:
        raise ValueError(f"{name} {v} outside 0..65535")
    return v


def check_u32(name: str, v: int) -> int:
    if not 0 <= v <= 0xFFFFFFFF:
        raise ValueError(f"{name} {v} outside 0..4294967295")
    return v


def check_level(v: float) -> int:
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"level {v} outside [0, 1]")
    return round(v * LEVEL_SCALE)


def unpack(fmt: str, body: bytes, what: str) -> tuple[int, ...]:
    if len(body) != struct.calcsize(fmt):
        raise FrameError(
            "bad_field", f"{what} body is {len(body)} bytes, expected {struct.calcsize(fmt)}"
        )
    return struct.unpack(fmt, body)
