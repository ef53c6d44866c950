"""The control step's clock: steps of the wall clock found and sized, stalls clamped; driven by a
clock the test sets, no waiting."""

from __future__ import annotations

from edge.clock import Clock
from edge.daemon._steps import StepTime, StepTimer


class SetClock(Clock):
    def __init__(self) -> None:
        super().__init__()
        self.wall, self.mono = 1_000_000.0, 50.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono


def _tick(clock: SetClock, timer: StepTimer, passed: float, wall_jump: float = 0.0) -> StepTime:
    clock.mono += passed
    clock.wall += passed + wall_jump
    return timer.read(1.0)


def test_steps_are_sized_jitter_ignored_and_stalls_clamped() -> None:
    clock = SetClock()
    timer = StepTimer(clock)
    first = timer.read(1.0)
    assert (first.step_s, first.clamped) == (0.0, False)
    ok = _tick(clock, timer, 1.0)
    assert (ok.step_s, ok.clamped) == (0.0, False)
    jitter = _tick(clock, timer, 1.0, wall_jump=0.2)  # NTP slewing: under a quarter tick
    assert jitter.step_s == 0.0
    ahead = _tick(clock, timer, 1.0, wall_jump=3600.0)
    assert ahead.step_s == 3600.0
    back = _tick(clock, timer, 1.0, wall_jump=-3600.0)
    assert back.step_s == -3600.0
    stall = _tick(clock, timer, 30.0)  # the loop stood still 30 s: only two ticks count
    assert stall.clamped
    assert stall.step_s == 28.0  # the rest is shifted out
    assert stall.now == clock.wall
