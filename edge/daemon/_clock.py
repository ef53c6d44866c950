"""The daemon's clock: wall time for the cabinet, a faster one for the demo."""

from __future__ import annotations

import asyncio
import time

__all__ = ["Clock"]


class Clock:
    """Epoch seconds (``time``), a monotonic reading (``monotonic``) and ``sleep``.

    ``speed`` > 1 runs virtual time faster than real time from ``start`` (the demo); the
    default follows the system clock, so the night follows the real sun.
    """

    def __init__(self, *, speed: float = 1.0, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed must be positive, not {speed}")
        self.speed = speed
        self._real = speed == 1.0 and start is None
        self._t0 = time.time() if start is None else start
        self._m0 = time.monotonic()

    def time(self) -> float:
        if self._real:
            return time.time()
        return self._t0 + (time.monotonic() - self._m0) * self.speed

    def monotonic(self) -> float:
        return (time.monotonic() - self._m0) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)
