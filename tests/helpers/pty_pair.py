"""A real pseudo-terminal pair standing in for a USB-serial adapter."""

from __future__ import annotations

import contextlib
import os
import tty
from dataclasses import dataclass


@dataclass
class PtyPair:
    """``device`` is the path the gateway opens; ``node_fd`` is the firmware's end."""

    node_fd: int
    device: str
    _device_fd: int

    @classmethod
    def open(cls) -> PtyPair:
        node_fd, device_fd = os.openpty()
        tty.setraw(node_fd)
        tty.setraw(device_fd)
        return cls(node_fd=node_fd, device=os.ttyname(device_fd), _device_fd=device_fd)

    def close(self) -> None:
        for fd in (self.node_fd, self._device_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
