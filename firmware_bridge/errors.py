"""The errors firmware_bridge raises: its own, so the package stands on its own."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from firmware_bridge._messages import Nack

__all__ = ["AckTimeoutError", "FrameError", "LinkDownError", "NackError", "SerialError"]


class SerialError(Exception):
    """Root of every error this package raises on purpose."""

    #: a command line's exit code for it: 1 failure
    exit_code = 1


class FrameError(SerialError, ValueError):
    """A serial frame that cannot be decoded; ``reason`` is a short counter label."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class LinkDownError(SerialError):
    """The serial device is not open (unplugged, or not opened yet)."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(f"serial link {url} is down")


class AckTimeoutError(SerialError, TimeoutError):
    """No ACK after every retransmission."""

    def __init__(self, url: str, type_name: str, seq: int, attempts: int) -> None:
        self.url, self.type_name, self.seq, self.attempts = url, type_name, seq, attempts
        super().__init__(f"{url}: no ACK for {type_name} seq {seq} after {attempts} attempts")


class NackError(SerialError):
    """The node refused the frame."""

    def __init__(self, url: str, nack: Nack) -> None:
        self.url, self.nack = url, nack
        super().__init__(f"{url}: frame seq {nack.acked_seq} refused, reason {nack.reason}")
