"""A clock the test drives: time stands still until ``advance()``, which wakes every sleeper
whose time has come, in order, and lets it run before going on. No real waiting."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools

from edge.clock import Clock


class ManualClock(Clock):
    def __init__(self, *, wall: float = 1_800_000_000.0) -> None:
        super().__init__()
        self.wall, self.mono = wall, 0.0
        self.slept: list[float] = []  # every sleep asked for, in seconds
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._asleep = asyncio.Event()

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.slept.append(seconds)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.mono + seconds, next(self._order), fut))
        self._asleep.set()
        await fut

    def pending(self) -> int:
        """Tasks asleep on this clock now."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def asleep(self, n: int = 1, timeout: float = 5.0) -> None:
        """Wait (real time) until ``n`` tasks sleep on this clock."""
        async with asyncio.timeout(timeout):
            while self.pending() < n:
                self._asleep.clear()
                await self._asleep.wait()

    async def advance(self, seconds: float, *, settle: float = 2.0) -> None:
        """Move time on by ``seconds``; each sleeper due on the way wakes at its own moment
        and runs until it sleeps again (or ``settle`` real seconds pass: it ended)."""
        until = self.mono + seconds
        while self._sleepers and self._sleepers[0][0] <= until:
            asleep = self.pending()
            at, _, fut = heapq.heappop(self._sleepers)
            if fut.done():  # its task was cancelled
                continue
            self.wall += at - self.mono
            self.mono = at
            fut.set_result(None)
            with contextlib.suppress(TimeoutError):
                await self.asleep(asleep, settle)
        self.wall += until - self.mono
        self.mono = until
