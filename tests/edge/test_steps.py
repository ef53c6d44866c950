"""The control step's clock: steps of the wall clock found and sized, a stall taken as time
that passed; driven by a clock the test sets, no waiting."""

from __future__ import annotations

import pytest

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


def test_a_pause_between_reading_the_two_clocks_is_no_step_in_virtual_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the process preempted for 10 ms between the wall and the monotonic reading of one
    # step: 0.6 s of virtual time at 60x, more than a quarter tick (the first reading is
    # the clock's start)
    readings = iter([0.0, 0.0, 0.01, 1.0, 1.0, 2.0, 2.0])
    monkeypatch.setattr("edge.clock.time.monotonic", lambda: next(readings))
    clock = Clock(speed=60.0, start=1_000_000.0)
    timer = StepTimer(clock)
    steps = [timer.read(1.0) for _ in range(3)]
    assert [t.step_s for t in steps] == [0.0, 0.0, 0.0]
    assert steps[0].now == 1_000_000.0
