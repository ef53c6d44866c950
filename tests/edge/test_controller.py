"""Example-based tests of the control core: classes, boost, leases, energy, explain, layers."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from edge.config import load_config
from edge.control import (
    CountsBatch,
    DimmingController,
    LampReport,
    Override,
    PolicyParams,
    PresenceParams,
    Profile,
    SensorCounts,
    explain,
)
from edge.control._leases import LeaseBook
from edge.control._night import NightClock
from edge.errors import UnknownIdError
from edge.site import build_controller
from tests.conftest import EXAMPLE
from tests.edge.control_strategies import NIGHT_T0, small_site

# no entry lamps: these tests watch what counts light (entry lamps have a test of their own)
PARAMS = PolicyParams(
    flow_window_s=300.0, flow_bins=5, stale_s=120.0, presence=PresenceParams(entry_s=0.0)
)


def _cars(sensor: str, n: int, direction: int = 1, speed: float | None = 13.9) -> SensorCounts:
    fwd, bwd = ((n, 0, 0), (0, 0, 0)) if direction > 0 else ((0, 0, 0), (n, 0, 0))
    return SensorCounts(
        sensor=sensor, interval_s=10.0, forward=fwd, backward=bwd, mean_speed_mps=speed
    )


def _keepalive(sensor: str = "east") -> SensorCounts:
    return SensorCounts(sensor=sensor, interval_s=10.0)


def test_first_step_leases_every_lamp_and_nodes_start_full() -> None:
    ctrl = DimmingController(site=small_site(), params=PARAMS, start=NIGHT_T0)
    r = ctrl.step(NIGHT_T0 + 1)
    assert r.night
    assert list(r.send) == list(range(10))
    assert r.lease_s == PARAMS.lease_s
    np.testing.assert_allclose(r.send_levels, 1.0)  # warming up: rated class


def test_quiet_road_steps_down_classes_with_reasons_and_explain() -> None:
    ctrl = DimmingController(site=small_site(), params=PARAMS, start=NIGHT_T0)
    t = NIGHT_T0
    events = []
    for _ in range(400):  # light traffic: 1 car per 10 s = 360/h = 30% of 1200/h
        t += 1
        obs = [_keepalive("west"), _keepalive("east")] if int(t) % 10 else []
        events += ctrl.step(t, obs).events
    assert ctrl.cluster_step[0] == 3  # 0 flow: below every threshold, to the ladder's end (M6)
    changes = [e for e in events if e.kind == "class_change"]
    assert changes[-1].data["to"] == "M6"
    assert changes[-1].data["flow_per_h"] == 0.0
    ex = explain(ctrl, "l4")
    assert ex.cls == "M6"
    assert ex.class_level == pytest.approx(0.3)
    assert ex.target == pytest.approx(0.3)
    assert any("class M6 (rated M3)" in line for line in ex.lines())
    # the ramp down is slow: 2 %/s, so ~35 s from 100 % to 30 %
    assert ctrl.level[4] == pytest.approx(0.3)

    # heavy traffic returns the rated class within the window
    for _ in range(120):
        t += 1
        ctrl.step(t, [_cars("west", 2, speed=None), _keepalive("east")])
    assert ctrl.cluster_step[0] == 0
    assert explain(ctrl, "l4").cls == "M3"


def test_presence_boost_ahead_then_release_after_hold() -> None:
    # light around the sensor only, as counted; presence at the rated class (M3)
    no_tracking = PresenceParams(track_s=0.0, entry_s=0.0, m_steps_up=3)
    params = dataclasses.replace(PARAMS, flow_window_s=60.0, flow_bins=6, presence=no_tracking)
    ctrl = DimmingController(site=small_site(), params=params, start=NIGHT_T0)
    t = NIGHT_T0
    for _ in range(150):
        t += 1
        ctrl.step(t, [_keepalive("west"), _keepalive("east")])
    assert np.all(ctrl.level == pytest.approx(0.3))
    t += 1
    # 10 m/s (+ 12 %: up to 11.2 m/s) x 8 s = 89.6 m
    r = ctrl.step(t, [_cars("west", 1, speed=10.0), _keepalive("east")])
    boosted = np.flatnonzero(ctrl.level == 1.0)
    assert list(boosted) == [0, 1, 2]  # lamps at 15, 45, 75 m (and >= 3 lamps)
    assert set(boosted) <= set(r.send)
    ex = explain(ctrl, "l1")
    assert ex.boost
    assert ex.boost_sensor == "west"
    # held for hold_s after the last count (its last tick included), then ramping down
    for _ in range(int(params.presence.hold_s)):
        t += 1
        ctrl.step(t, [_keepalive("west"), _keepalive("east")])
    assert ctrl.level[1] == 1.0
    for _ in range(2):
        t += 1
        ctrl.step(t, [_keepalive("west"), _keepalive("east")])
    # released after count + hold_s: two ticks of ramping down at 20 %/s
    assert ctrl.level[1] == pytest.approx(1.0 - 0.2 * 2)


def test_backward_traffic_boosts_lamps_towards_zero() -> None:
    ctrl = DimmingController(site=small_site(), params=PARAMS, start=NIGHT_T0)
    t = NIGHT_T0 + 400
    ctrl.step(t, [_keepalive("west"), _keepalive("east")])
    ctrl.add_override(Override(id="dim", target="all", op="set", level=0.3, expires_at=t + 5))
    t += 1
    ctrl.step(t, [_cars("east", 1, direction=-1, speed=5.0), _keepalive("west")])
    ex = explain(ctrl, "l9")
    assert ex.boost  # at 285 m, the nearest lamp ahead of a road user leaving the east end
    assert ex.layers[0].op == "set"


def test_lease_refreshed_before_it_lapses() -> None:
    ctrl = DimmingController(site=small_site(), params=PARAMS, start=NIGHT_T0)
    t = NIGHT_T0
    sent_at: dict[int, list[float]] = {i: [] for i in range(10)}
    for _ in range(200):
        t += 1
        r = ctrl.step(t, [_keepalive("west"), _keepalive("east")])
        for i in r.send.tolist():
            sent_at[i].append(t)
    for times in sent_at.values():
        gaps = np.diff([NIGHT_T0 + 1, *times])
        assert gaps.max() <= PARAMS.lease_refresh_s < PARAMS.lease_s


def test_a_lease_that_never_left_is_sent_again_at_the_next_step() -> None:
    ctrl = DimmingController(site=small_site(), params=PARAMS, start=NIGHT_T0)
    first = ctrl.step(NIGHT_T0 + 1)
    assert len(first.send) == 10
    assert len(ctrl.step(NIGHT_T0 + 2).send) == 0  # all sent, nothing due
    ctrl.resend(np.array([3, 7]))  # the publisher could not hand these to the broker
    again = ctrl.step(NIGHT_T0 + 3)
    assert again.send.tolist() == [3, 7]
    assert (again.send_seq > first.send_seq[[3, 7]]).all()
    assert len(ctrl.step(NIGHT_T0 + 4).send) == 0


def test_a_forced_refresh_sends_every_lease_once_and_keeps_the_schedule() -> None:
    ctrl = DimmingController(site=small_site(), params=PARAMS, start=NIGHT_T0)
    ctrl.step(NIGHT_T0 + 1)
    assert len(ctrl.step(NIGHT_T0 + 2).send) == 0
    ctrl.force_refresh()  # after a broker reconnect
    again = ctrl.step(NIGHT_T0 + 3)
    assert sorted(again.send.tolist()) == list(range(10))
    assert (again.send_seq == ctrl.lease_seq).all()
    np.testing.assert_allclose(ctrl.last_sent_at, NIGHT_T0 + 3)
    assert len(ctrl.step(NIGHT_T0 + 4).send) == 0  # and not again at the next step


def test_a_lamp_back_at_its_last_sent_level_is_not_sent_again() -> None:
    """Moved less than the deadband and back to the level its node already has (settled at
    the target, but nothing new to say): no lease until the refresh is due."""
    book = LeaseBook(n=3, refresh_s=30.0, deadband=0.05, seq_base=0)
    level, target, lamp0 = np.full(3, 0.5), np.full(3, 0.6), np.array([0])
    assert book.due(0.0, np.arange(3), level.copy(), level, target).tolist() == [0, 1, 2]
    level[0] = 0.52  # within the deadband, short of the target
    assert book.due(1.0, lamp0, level[lamp0], level, target).tolist() == []
    level[0], target[0] = 0.5, 0.5  # back where it was, which is now the target
    assert book.due(2.0, lamp0, level[lamp0], level, target).tolist() == []
    level[0], target[0] = 0.56, 0.56  # past the deadband: sent
    assert book.due(3.0, lamp0, level[lamp0], level, target).tolist() == [0]


def test_rises_go_out_before_refreshes_and_falls() -> None:
    book = LeaseBook(n=5, refresh_s=30.0, deadband=0.05, seq_base=0)
    level, target = np.full(5, 0.5), np.full(5, 0.5)
    assert book.due(0.0, np.arange(5), level.copy(), level, target).tolist() == [0, 1, 2, 3, 4]
    moved = np.array([1, 3, 4])
    level[moved] = (0.3, 1.0, 0.8)  # 1 falls, 3 and 4 rise; 0 and 2 are due a refresh
    sent = book.due(40.0, moved, level[moved], level, level)
    assert sent.tolist() == [3, 4, 0, 1, 2]


def test_bad_rows_of_a_counts_batch_are_rejected_by_name_and_the_rest_counted() -> None:
    ctrl = DimmingController(site=small_site(), params=PARAMS, start=NIGHT_T0)
    fwd = np.array([[2, 0, 0], [1, 0, 0], [-1, 0, 0], [1, 0, 0], [0, 0, 0]], dtype=np.int64)
    batch = CountsBatch(
        sensors=("west", "ghost", "east", "east", "bad-index"),
        interval_s=np.array([10.0, 10.0, 10.0, 0.0, 10.0]),
        forward=fwd,
        backward=np.zeros_like(fwd),
        mean_speed_mps=np.full(5, 13.9),
        index=np.array([0, -1, 1, 1, 7]),  # as an ingest resolved them: -1 and 7 unknown
    )
    r = ctrl.step(NIGHT_T0 + 1, [batch])
    rejected = [(e.subject, e.data["reason"]) for e in r.events if e.kind == "rejected"]
    assert rejected == [
        ("ghost", "unknown sensor"),
        ("east", "negative count or interval"),
        ("east", "negative count or interval"),
        ("bad-index", "unknown sensor"),
    ]
    assert ctrl.traffic.flows.totals.tolist() == [2.0, 0.0]  # west's two road users only
    assert ctrl.traffic.last_seen.tolist() == [NIGHT_T0 + 1, NIGHT_T0]
    assert ctrl._presence.tracks.size == 1  # one track: west, forward, for both road users


@pytest.mark.parametrize("bad", [math.inf, math.nan, -3.0, 0.0])
def test_a_mean_speed_that_is_no_speed_counts_as_unknown(bad: float) -> None:
    """A radar's mean speed of inf, NaN, below or at 0: the road user is lit as one of
    unknown speed (a car at the speed limit), not dropped (inf once put it off the road)."""
    lit = []
    for speed in (bad, None):
        params = dataclasses.replace(PARAMS, flow_window_s=60.0, flow_bins=6)
        ctrl = DimmingController(site=small_site(), params=params, start=NIGHT_T0)
        for t in range(1, 91):  # warm: the class dims, so the boost shows
            ctrl.step(NIGHT_T0 + t, [_keepalive("west"), _keepalive("east")])
        ctrl.step(NIGHT_T0 + 91, [_cars("west", 1, speed=speed), _keepalive("east")])
        assert ctrl._presence.tracks.size == 1
        lit.append(np.flatnonzero(ctrl.target > ctrl._targets.base_cmd).tolist())
    assert lit[0] == lit[1]
    assert len(lit[0]) >= 3


def test_energy_savings_against_both_baselines() -> None:
    ctrl = DimmingController(site=small_site(), params=PARAMS, start=NIGHT_T0)
    t = NIGHT_T0
    for _ in range(3600):
        t += 1
        ctrl.step(t, [_keepalive("west"), _keepalive("east")] if int(t) % 60 == 0 else [])
    # full power all night: 10 lamps x 60 W x 1 h
    assert ctrl.baseline_full_wh.sum() == pytest.approx(600.0)
    # 22:00 UTC is 23:00 Amsterdam... but these params use UTC: 100 % before 23:00 local
    assert 0 < ctrl.energy_wh.sum() < 0.5 * ctrl.baseline_full_wh.sum()
    assert ctrl.lamp_energy_wh().sum() == pytest.approx(ctrl.energy_wh.sum())


def test_day_is_dark_and_night_follows_the_sun_at_the_example_site() -> None:
    site = load_config(EXAMPLE)
    noon = datetime(2026, 6, 21, 11, 0, tzinfo=UTC).timestamp()
    ctrl = build_controller(site, start=noon)
    r = ctrl.step(noon + 1)
    assert not r.night
    np.testing.assert_allclose(r.levels, 0.8)  # ramping down from power-on at 20 %/s
    np.testing.assert_allclose(ctrl.target, 0.0)
    midnight = datetime(2026, 6, 21, 23, 0, tzinfo=UTC).timestamp()
    r = ctrl.step(midnight)
    assert r.night
    assert np.all(r.levels >= 0.2)
    assert [e.kind for e in r.events][:1] == ["night_start"]
    assert explain(ctrl, "art-001").night_source == "sun"


def test_profiles_apply_at_night_in_their_window_and_day() -> None:
    prof = Profile(id="late", target="road", op="min", level=0.5, start_min=22 * 60, end_min=2 * 60,
                   days=frozenset({4}))  # fmt: skip
    params = dataclasses.replace(PARAMS, presence=PresenceParams())
    ctrl = DimmingController(site=small_site(), params=params, start=NIGHT_T0, profiles=[prof])
    # NIGHT_T0 is Saturday 22:00 UTC; the window belongs to Fridays only.
    ctrl.step(NIGHT_T0 + 1)
    assert ctrl.active_profiles == []
    assert prof.active(60, 5)  # Saturday 01:00 belongs to Friday's window
    assert not prof.active(60, 6)
    assert prof.active(23 * 60, 4)
    assert not prof.active(12 * 60, 4)


def test_override_unknown_target_suggests_close_ids() -> None:
    ctrl = DimmingController(site=small_site(), params=PARAMS, start=NIGHT_T0)
    with pytest.raises(UnknownIdError) as info:
        ctrl.add_override(
            Override(id="x", target="rod", op="set", level=1.0, expires_at=NIGHT_T0 + 9)
        )
    assert "road" in info.value.suggestions
    with pytest.raises(UnknownIdError, match="did you mean"):
        explain(ctrl, "l99")


def test_allow_dark_override_goes_below_floor_only_while_active() -> None:
    ctrl = DimmingController(site=small_site(), params=PARAMS, start=NIGHT_T0)
    ctrl.add_override(Override(id="off", target="l0", op="set", level=0.0, expires_at=NIGHT_T0 + 60,
                               allow_dark=True))  # fmt: skip
    ctrl.add_override(
        Override(id="low", target="l1", op="set", level=0.0, expires_at=NIGHT_T0 + 60)
    )
    t = NIGHT_T0
    for _ in range(59):
        t += 1
        ctrl.step(t)
    assert ctrl.level[0] == pytest.approx(0.0)
    assert ctrl.level[1] == pytest.approx(0.3)  # no allow_dark: the floor holds
    t += 2
    r = ctrl.step(t)
    assert ctrl.level[0] == pytest.approx(ctrl.target[0])  # rated while warming: up fast
    assert ctrl.overrides == []
    assert {e.data["id"] for e in r.events if e.kind == "override_expired"} == {"off", "low"}


def test_lamp_fault_report_raises_one_event_and_unknown_lamp_is_rejected() -> None:
    ctrl = DimmingController(site=small_site(), params=PARAMS, start=NIGHT_T0)
    r1 = ctrl.step(NIGHT_T0 + 1, [LampReport(lamp="l3", level=0.0, faults=("driver",))])
    r2 = ctrl.step(NIGHT_T0 + 2, [LampReport(lamp="l3", level=0.0, faults=("driver",))])
    r3 = ctrl.step(NIGHT_T0 + 3, [LampReport(lamp="nope", level=1.0)])
    assert [e.kind for e in r1.events] == ["lamp_fault"]
    assert r2.events == ()
    assert [e.kind for e in r3.events] == ["rejected"]


def test_example_site_builds_and_explains_every_lamp() -> None:
    site = load_config(EXAMPLE)
    ctrl = build_controller(site, start=NIGHT_T0)
    ctrl.step(NIGHT_T0 + 1)
    for lamp in site.all_lamps():
        ex = explain(ctrl, lamp.id)
        assert ex.target == pytest.approx(ctrl.target[ctrl.lamp_index(lamp.id)])
        assert ex.clamped * ex.clo == pytest.approx(ex.target)


def test_dead_reckoning_lights_the_road_ahead_as_the_road_user_moves() -> None:
    presence = PresenceParams(entry_s=0.0, m_steps_up=3, track_s=60.0)  # rated when near
    params = dataclasses.replace(PARAMS, flow_window_s=60.0, flow_bins=6, presence=presence)
    ctrl = DimmingController(site=small_site(), params=params, start=NIGHT_T0)
    t = NIGHT_T0
    for _ in range(150):
        t += 1
        ctrl.step(t, [_keepalive("west"), _keepalive("east")])
    t += 1
    counted = t
    # 10 m/s measured: between 8.8 and 11.2 m/s (+- speed_spread 12 %) from 0 m
    ctrl.step(t, [_cars("west", 1, speed=10.0), _keepalive("east")])
    # l8 at 255 m is beyond 89.6 m of lead: at the class level only (one car in the
    # 60 s window is 5 % of capacity: M5, brighter at once)
    assert ctrl.level[8] == pytest.approx(0.5)
    first_lit = None
    while t < counted + 50:
        t += 1
        ctrl.step(t, [])
        if first_lit is None and ctrl.level[8] == 1.0:
            first_lit = t - counted
            lit_lines = explain(ctrl, "l8").lines()
    # lit once it is among the 3 lamps ahead of the fastest place (195, 225, 255 m once
    # that is past 165 m: 11.2 m/s x 15 s = 168 m), 15 s after the count
    assert first_lit == 15
    assert any("from sensor west while a tracked road user is near" in ln for ln in lit_lines)
    # even its slowest place (8.8 m/s) has left the 300 m road after 35 s: the boost runs
    # out hold_s after the last tick that lit it
    ex = explain(ctrl, "l8")
    assert ex.boost_until == pytest.approx(counted + 34 + params.presence.hold_s)


def test_night_verdict_kept_between_switches_is_the_one_worked_out_afresh() -> None:
    """The clock keeps its sun verdict until the minute ends or the lights switch; asked in
    any order, on a switch, a hair either side of it and across midnight, it must answer as
    a clock that has never been asked before."""
    params = PolicyParams().night
    on, off, _ = NightClock(params).sun_times(datetime(2026, 11, 28).date())
    assert on is not None
    assert off is not None
    midnight = datetime(2026, 11, 29, tzinfo=ZoneInfo(params.timezone)).timestamp()
    times = [
        t + d
        for t in (on, off, midnight)
        for d in (-61.0, -60.0, -1.0, -1e-6, 0.0, 1e-6, 0.5, 1.0, 59.9, 60.0, 3600.0)
    ]
    fresh = {t: NightClock(params).verdict(t) for t in times}
    for first in times:  # every ordered pair: what the first answer keeps must not leak
        for t in times:
            kept = NightClock(params)
            kept.verdict(first)
            assert kept.verdict(t) == fresh[t], (first, t)


@pytest.mark.parametrize("delta", [3600.0, -3600.0, -NIGHT_T0 + 86400.0])
def test_a_clock_step_keeps_every_interval_and_adds_no_energy(delta: float) -> None:
    """shift(delta) before the next step: the step then draws one tick's energy; a held
    boost, an override, a sensor's silence and a lease refresh keep the time they had left;
    the road runs at its rated class until the flow window has filled again."""
    params = dataclasses.replace(
        PARAMS, presence=PresenceParams(entry_s=0.0, hold_s=5.0, m_steps_up=3, track_s=0.0)
    )
    ctrl = DimmingController(site=small_site(), params=params, start=NIGHT_T0)
    t = NIGHT_T0
    for _ in range(400):
        t += 1
        ctrl.step(t, [_keepalive("west"), _keepalive("east")])
    assert ctrl.cluster_step.tolist() == [3]
    t += 1
    ctrl.step(t, [_cars("west", 1, speed=10.0)])  # east silent from here on
    ctrl.add_override(Override(id="o", target="l9", op="set", level=0.8, expires_at=t + 10))

    def left(at: float) -> list[float]:
        return [
            float(ctrl.boost_until[0]) - at,
            ctrl.overrides[0].expires_at - at,
            at - float(ctrl.traffic.last_seen[1]),
            float(ctrl._leases.next_refresh[5]) - at,
        ]

    before, wh = left(t), float(ctrl.energy_wh.sum())
    ctrl.shift(delta)
    assert left(t + delta) == pytest.approx(before)
    t += delta + 1
    ctrl.step(t, [_keepalive("west")])
    assert 0 < float(ctrl.energy_wh.sum()) - wh <= 10 * 60.0 / 3600.0  # one tick, 10 x 60 W
    assert ctrl.cluster_step.tolist() == [0]  # the flow window starts afresh: rated class


def _meters(readings: dict[int, float]) -> list[LampReport]:
    return [LampReport(lamp=f"l{j}", level=1.0, energy_wh=wh) for j, wh in readings.items()]


def test_the_ledger_follows_the_lamps_meters_and_keeps_the_model_beside_it() -> None:
    """Lamps 0-4 report a counter that runs at 80 % of the model (a driver more efficient than
    its curve) every 10 s; lamps 5-9 report none. The ledger counts 0-4 by their meters and
    5-9 by the model; the modelled figure and the meters' own figures are reported beside it."""
    ctrl = DimmingController(site=small_site(), params=PARAMS, start=NIGHT_T0)
    t, true = NIGHT_T0, np.zeros(10)
    prev = ctrl.lamp_energy_wh(t)
    ledger = modelled = metered = metered_model = 0.0
    for k in range(600):
        t += 1
        now_model = ctrl.lamp_energy_wh(t)
        true += 0.8 * (now_model - prev)
        obs: list[object] = [_keepalive("west"), _keepalive("east")]
        if k % 10 == 0:
            obs += _meters({j: float(true[j]) for j in range(5)})
        r = ctrl.step(t, obs)  # type: ignore[arg-type]
        prev = ctrl.lamp_energy_wh(t)
        assert (r.ledger_wh >= 0).all()
        ledger += float(r.ledger_wh.sum())
        modelled += float(r.cluster_wh.sum())
        metered += float(r.metered_wh.sum())
        metered_model += float(r.metered_model_wh.sum())
    model = ctrl.lamp_energy_wh(t)
    assert modelled == pytest.approx(model.sum(), rel=1e-6)
    # The last readings are up to 10 s old: the ledger lags by at most that much of 5 lamps.
    lag = 10 * 5 * 60.0 / 3600.0
    expected = model[5:].sum() + 0.8 * model[:5].sum()
    assert expected - lag <= ledger <= expected + 1e-6
    assert metered == pytest.approx(0.8 * metered_model, rel=0.02)
    assert ctrl.energy.meters()[0].tolist() == [0, 1, 2, 3, 4]
    assert float(ctrl.energy.ledger_wh.sum()) == pytest.approx(ledger)


def test_a_meter_that_resets_counts_from_zero_and_one_that_leaps_is_refused() -> None:
    """A reading's rise is booked in the step that reads it (so a checkpoint after the step
    holds the reading and its rise together)."""
    ctrl = DimmingController(site=small_site(), params=PARAMS, start=NIGHT_T0)
    t = NIGHT_T0 + 1
    ctrl.step(t, _meters({0: 500.0}))  # first reading: from now on lamp 0 is metered
    t += 60
    r = ctrl.step(t, _meters({0: 500.5}))  # 0.5 Wh in a minute (at most 60 W: 1 Wh)
    assert r.metered_wh.sum() == pytest.approx(0.5)
    t += 60
    r = ctrl.step(t, _meters({0: 0.3}))  # a new driver: its counter from 0
    assert r.metered_wh.sum() == pytest.approx(0.3)
    assert "meter_reset" in [e.kind for e in r.events]
    t += 60
    r = ctrl.step(t, _meters({0: 50_000.0}))  # 50 kWh in a minute from a 60 W lamp
    assert r.metered_wh.sum() == 0.0
    assert "meter_implausible" in [e.kind for e in r.events]
    t += 60
    r = ctrl.step(t, _meters({0: 50_000.4}))  # the next reading counts from the refused one
    assert r.metered_wh.sum() == pytest.approx(0.4)
    assert ctrl.energy.metered_wh.sum() == pytest.approx(1.2)
    assert ctrl.energy.ledger_wh.sum() >= ctrl.energy.metered_wh.sum()


def test_meter_readings_from_before_a_restart_bring_the_downtime_into_the_ledger() -> None:
    """The daemon was down for an hour; the lamp's counter kept counting. Its next reading
    after the restart counts from the one saved at the last checkpoint."""
    a = DimmingController(site=small_site(), params=PARAMS, start=NIGHT_T0)
    a.step(NIGHT_T0 + 1, _meters({3: 100.0}))
    idx, wh, at = a.energy.meters()
    restart = NIGHT_T0 + 3600
    b = DimmingController(site=small_site(), params=PARAMS, start=restart)
    b.energy.restore_meters(idx, wh, at)
    r = b.step(restart + 1, _meters({3: 160.0}))  # 60 Wh over the hour: 60 W at full
    assert r.metered_wh.sum() == pytest.approx(60.0)
    assert r.ledger_wh.sum() >= 60.0


def test_the_first_reading_after_a_restart_may_cover_a_reboot_the_clock_did_not_see() -> None:
    """A gateway without a real-time clock boots at the time it shut down at (fake-hwclock):
    its first reading after the restart comes a second after the saved one by the clock,
    though the lamp drew for the whole reboot. That reading may cover the unknown time; the
    next is held to the time that passed again."""
    a = DimmingController(site=small_site(), params=PARAMS, start=NIGHT_T0)
    a.step(NIGHT_T0 + 1, _meters({3: 100.0}))
    idx, wh, at = a.energy.meters()
    restart = NIGHT_T0 + 2  # two minutes later, by a clock that stood still while it was off
    b = DimmingController(site=small_site(), params=PARAMS, start=restart)
    b.energy.restore_meters(idx, wh, at)
    r = b.step(restart + 1, _meters({3: 102.0}))  # 2 Wh: two minutes at 60 W
    assert r.metered_wh.sum() == pytest.approx(2.0)
    assert "meter_implausible" not in [e.kind for e in r.events]
    r = b.step(restart + 2, _meters({3: 104.0}))  # 2 Wh in a second from a 60 W lamp
    assert r.metered_wh.sum() == 0.0
    assert "meter_implausible" in [e.kind for e in r.events]


def test_a_first_reading_takes_its_lamp_out_of_the_model_for_its_whole_step() -> None:
    """The counter covers the lamp from its reading on, and a reading that arrives during a step
    (a retained one, taken before this start) is the meter's for that step: counting the lamp
    by the model too would count that step twice."""
    ctrl = DimmingController(site=small_site(), params=PARAMS, start=NIGHT_T0)
    unmetered = ctrl.step(NIGHT_T0 + 1)
    r = ctrl.step(NIGHT_T0 + 2, _meters({j: 10.0 for j in range(10)}))  # every lamp, first
    assert unmetered.ledger_wh.sum() > 0
    assert r.ledger_wh.sum() == 0.0  # no rise yet, and no model for the metered lamps
    assert r.metered_model_wh.sum() == pytest.approx(unmetered.cluster_wh.sum(), rel=0.05)


def test_a_lamp_whose_counter_is_no_longer_reported_is_modelled_again() -> None:
    """A metered lamp reports its state without ``energy_wh`` (a driver that stopped answering,
    other firmware): the model counts it from then on, and a later counter starts afresh."""
    ctrl = DimmingController(site=small_site(), params=PARAMS, start=NIGHT_T0)
    ctrl.step(NIGHT_T0 + 1, _meters({0: 100.0}))
    metered = ctrl.step(NIGHT_T0 + 2)
    gone = ctrl.step(NIGHT_T0 + 3, [LampReport(lamp="l0", level=1.0)])
    assert [e.kind for e in gone.events if e.kind.startswith("meter")] == ["meter_gone"]
    modelled = ctrl.step(NIGHT_T0 + 4)
    per_lamp = float(modelled.cluster_wh.sum()) / 10
    # lamp 0 is back in the ledger by the model: one more lamp's tick than while metered
    assert float(modelled.ledger_wh.sum() - metered.ledger_wh.sum()) == pytest.approx(
        per_lamp, rel=0.05
    )
    assert ctrl.energy.meters()[0].tolist() == []
    r = ctrl.step(NIGHT_T0 + 5, _meters({0: 3.0}))  # a new counter: a first reading, no rise
    assert r.metered_wh.sum() == 0.0
    assert ctrl.energy.meters()[0].tolist() == [0]
