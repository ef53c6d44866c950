"""The control step's clock: steps of the wall clock found and sized, a stall taken as time
that passed; driven by a clock the test sets, no waiting."""

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


def _tick(
    clock: SetClock, timer: StepTimer, passed: float, wall_jump: float = 0.0, mono: float = 1.0
) -> StepTime:
    clock.mono += passed * mono
    clock.wall += passed + wall_jump
    return timer.read(1.0)


def test_steps_are_sized_jitter_ignored_and_a_stall_is_no_step() -> None:
    clock = SetClock()
    timer = StepTimer(clock)
    assert timer.read(1.0).step_s == 0.0
    assert _tick(clock, timer, 1.0).step_s == 0.0
    jitter = _tick(clock, timer, 1.0, wall_jump=0.2)  # NTP slewing: under a quarter tick
    assert jitter.step_s == 0.0
    assert _tick(clock, timer, 1.0, wall_jump=3600.0).step_s == 3600.0
    assert _tick(clock, timer, 1.0, wall_jump=-3600.0).step_s == -3600.0
    # the loop stood still 30 s: both clocks moved alike, so the time passed (for the lamps'
    # draw, holds and leases as for the daemon), and the wall clock did not step
    stall = _tick(clock, timer, 30.0)
    assert stall.step_s == 0.0
    assert stall.now == clock.wall
    # a suspend: the monotonic clock stood still while the wall clock went on
    assert _tick(clock, timer, 600.0, mono=0.0).step_s == 600.0
