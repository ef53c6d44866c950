"""The wall clock for each control step, with the clock's own steps taken out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from edge.clock import Clock

__all__ = ["CLOCK_STEP_EVENT_S", "Every", "StepTime", "StepTimer", "clock_step_event"]

#: a step of the wall clock this big or bigger is an event too (any step is counted)
CLOCK_STEP_EVENT_S = 60.0


@dataclass(frozen=True, slots=True)
class StepTime:
    now: float  # the wall clock for this step
    step_s: float  # how far the wall clock moved beyond the time that passed (0: no step)


class StepTimer:
    """The time that passed since the last step is the monotonic clock's, however long (a
    loop that stood still a while let that time pass for the lamps, holds and leases too);
    whatever the wall clock moved beyond it is a step (NTP at a boot without RTC, a manual
    set), for the caller to shift out of everything it keeps. A move of less than a quarter
    tick is jitter, not a step."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._last: tuple[float, float] | None = None  # (wall, monotonic) at the last step

    def read(self, tick_s: float) -> StepTime:
        wall, mono = self.clock.readings()
        last, self._last = self._last, (wall, mono)
        if last is None:
            return StepTime(wall, 0.0)
        delta = (wall - last[0]) - max(mono - last[1], 0.0)
        return StepTime(wall, delta if abs(delta) > 0.25 * tick_s else 0.0)


class Every:
    """Something done every so many seconds of the wall clock (telemetry, checkpoints); a
    step of the wall clock moves it with the clock (``shift``)."""

    def __init__(self) -> None:
        self.last = -math.inf  # when it was last done

    def due(self, now: float, period_s: float) -> bool:
        """Whether ``period_s`` has passed since it was last done; if so, it is done now."""
        if now - self.last < period_s:
            return False
        self.last = now
        return True

    def shift(self, delta: float) -> None:
        self.last += delta


def clock_step_event(delta: float) -> dict[str, Any] | None:
    """The fields of the event for a step of the wall clock by ``delta`` s, if it is one."""
    if abs(delta) < CLOCK_STEP_EVENT_S:
        return None
    return {
        "kind": "clock_step", "subject": "clock", "severity": "warning",
        "message": f"the wall clock moved by {delta:+.0f} s between two ticks: taken out of "
        "energy, holds, leases and timers",
        "data": {"delta_s": round(delta, 3)},
    }  # fmt: skip
