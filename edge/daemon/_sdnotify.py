"""systemd's notify protocol (READY=1, WATCHDOG=1, STOPPING=1): one datagram to $NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket

__all__ = ["SystemdNotifier"]


class SystemdNotifier:
    """Sends to $NOTIFY_SOCKET when systemd set it; otherwise does nothing."""

    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self.address = address or None
        if self.address and self.address.startswith("@"):
            self.address = "\0" + self.address[1:]  # an abstract socket
        self.sent = 0
        watchdog = os.environ.get("WATCHDOG_USEC")
        self.watchdog_s = int(watchdog) / 1e6 if watchdog and watchdog.isdigit() else None

    def notify(self, state: str) -> bool:
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self.address)
                sock.sendall(state.encode())
        except OSError:
            return False
        self.sent += 1
        return True

    def ready(self) -> bool:
        return self.notify("READY=1")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")
