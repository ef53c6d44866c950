"""When the daemon steps: the periodic tick on its schedule (overruns skipped and counted),
and between two ticks a step of its own for a road user just counted."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from edge.clock import Clock

__all__ = ["EARLY_STEP_GAP_S", "Pacer"]

#: the shortest time between two steps when road users are counted between ticks: each is
#: lit within it, and a flood of counts costs at most one step per gap
EARLY_STEP_GAP_S = 0.01


class Pacer:
    """Runs ``tick`` every ``period()`` seconds of ``clock``, and ``early`` between ticks
    once ``road_user`` is set (the ingest sets it; the step clears it). Each step's duration
    goes to ``observe``; missed ticks are skipped, never caught up, and go to ``overran``."""

    def __init__(
        self,
        *,
        clock: Clock,
        period: Callable[[], float],
        observe: Callable[[float], None],
        overran: Callable[[int], None],
    ) -> None:
        self.clock, self.period = clock, period
        self._observe, self._overran = observe, overran
        self.road_user = asyncio.Event()  # a count of road users since the last step
        self._last_step = -math.inf  # monotonic

    async def run(
        self,
        *,
        tick: Callable[[], None],
        early: Callable[[], None],
        before: Callable[[], None],
        after: Callable[[], object],
    ) -> None:
        """Forever: ``before``, the tick, ``after``, then early steps until the next tick."""
        clock = self.clock
        next_at = clock.monotonic()
        while True:
            before()
            self.timed(tick)
            period = self.period()
            next_at += period
            late = clock.monotonic() - next_at
            if late > 0:
                missed = math.floor(late / period) + 1
                next_at += missed * period
                self._overran(missed)
            after()
            await self._between_ticks(next_at, early)

    async def _between_ticks(self, next_at: float, early: Callable[[], None]) -> None:
        """Wait for the next tick; a road user counted meanwhile is lit at once, by a step of
        its own (at most one every ``EARLY_STEP_GAP_S``: a flood of counts is stepped for in
        batches, and the ticks keep their time)."""
        clock = self.clock
        while await clock.wait(self.road_user, next_at - clock.monotonic()):
            wait = self._last_step + EARLY_STEP_GAP_S - clock.monotonic()
            if wait > 0:
                await clock.sleep(min(wait, next_at - clock.monotonic()))
            if clock.monotonic() >= next_at:
                return
            self.timed(early)

    def timed(self, step: Callable[[], None]) -> None:
        started = time.perf_counter()
        step()
        self._observe(time.perf_counter() - started)
        self._last_step = self.clock.monotonic()
