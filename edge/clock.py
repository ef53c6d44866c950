"""The one clock the gateway reads: wall time for the cabinet, a faster one for the demo.

The daemon's ticks, events, overrides and leases read time only through a ``Clock`` passed in
(``time()`` epoch seconds, ``monotonic()`` for intervals, ``sleep()``), so a test can drive
one it sets by hand and the demo runs a night faster than real time. The MQTT session and the
serial links take a clock too, and a test drives theirs to check a backoff or a timeout; the
daemon leaves them the system's, because what is on the other end keeps real seconds: a
broker restarting, a node's heartbeat and ACK timers. So does what is about the wire: a
broker's PUBACK and pings, the backhaul's drain rate, a signed command's timestamp, the lease
seq base. The control core takes ``now`` and reads no clock at all."""

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
        return self._t0 + self.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self._m0) * self.speed

    def readings(self) -> tuple[float, float]:
        """``time()`` and ``monotonic()`` together. Virtual time takes both from one reading:
        read one after the other, a pause between them (the process preempted) would be
        ``speed`` times longer on the wall clock than between the monotonic readings, and
        look like a step of the wall clock."""
        if self._real:
            return self.time(), self.monotonic()
        passed = self.monotonic()
        return self._t0 + passed, passed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        """Until ``event`` is set (True) or ``seconds`` have passed on this clock (False)."""
        if event.is_set():
            return True
        waiter = asyncio.ensure_future(event.wait())
        sleeper = asyncio.ensure_future(self.sleep(seconds))
        try:
            await asyncio.wait((waiter, sleeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()
        return event.is_set()
