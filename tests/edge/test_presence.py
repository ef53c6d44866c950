"""Presence ("light follows you"), example by example: per-road levels, tracks per kind,
re-acquisition, hold, entry lamps, counts with no direction."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import yaml

from edge.config import parse_config
from edge.control import (
    ClusterSpec,
    DimmingController,
    LampTable,
    PolicyParams,
    PresenceParams,
    SensorCounts,
    SensorSpec,
    SiteSpec,
)
from edge.errors import ConfigError
from tests.conftest import EXAMPLE
from tests.edge.control_strategies import NIGHT_T0

RATED = PresenceParams(entry_s=0.0, m_steps_up=3)  # lit at the rated class: easy to see


def _road(
    *, lamps: int = 30, spacing: float = 40.0, ladder: tuple[str, ...] = ("M3", "M4", "M5", "M6"),
    sensors: tuple[tuple[str, float, str], ...] = (("west", 0.0, "radar"),),
    two_way: bool = True,
) -> SiteSpec:  # fmt: skip
    length = spacing * lamps
    return SiteSpec(
        clusters=(ClusterSpec(id="road", length_m=length, speed_limit_mps=50 / 3.6,
                              capacity_per_h=1800.0, ladder=ladder, two_way=two_way),),
        sensors=tuple(SensorSpec(id=i, cluster=0, position_m=p, type=t) for i, p, t in sensors),
        lamps=LampTable.from_columns(
            ids=[f"l{j}" for j in range(lamps)], cluster=[0] * lamps,
            position_m=[spacing * (j + 0.5) for j in range(lamps)], nominal_w=[60.0] * lamps,
            floor=[0.3] * lamps, ceiling=[1.0] * lamps,
        ),
    )  # fmt: skip


def _warm(site: SiteSpec, presence: PresenceParams, minutes: int = 2) -> DimmingController:
    """A controller whose flow window (60 s) is warm and empty: the road at its lowest class."""
    params = PolicyParams(flow_window_s=60.0, flow_bins=6, stale_s=3600.0, presence=presence)
    ctrl = DimmingController(site=site, params=params, start=NIGHT_T0)
    for t in range(1, 60 * minutes + 1):
        ctrl.step(NIGHT_T0 + t)
    return ctrl


def _count(
    sensor: str, *, cars: int = 0, bikes: int = 0, walkers: int = 0, direction: int = 1,
    speed: float | None = None,
) -> SensorCounts:  # fmt: skip
    counts, none = (cars, bikes, walkers), (0, 0, 0)
    fwd, bwd = (counts, none) if direction > 0 else (none, counts)
    return SensorCounts(sensor=sensor, interval_s=1.0, forward=fwd, backward=bwd,
                        mean_speed_mps=speed)  # fmt: skip


def _nearest(site: SiteSpec, at: float) -> int:
    return int(np.argmin(np.abs(site.lamps.position_m - at)))


def test_a_car_and_a_bike_in_one_report_are_followed_each_at_its_own_speed() -> None:
    """One report, one car and one bike, one mean speed (9.7 m/s, of the two together): the
    bike, at 5 m/s, must still be lit a minute on; one track at the mean speed would be
    500 m ahead of it."""
    site = _road()
    ctrl = _warm(site, RATED)
    t0 = NIGHT_T0 + 121
    ctrl.step(t0, [_count("west", cars=1, bikes=1, speed=9.7)])
    assert ctrl._presence.tracks.size == 2
    for t in range(1, 61):
        ctrl.step(t0 + t)
    bike = _nearest(site, 5.0 * 60)
    car = _nearest(site, 13.9 * 60)
    assert ctrl.level[bike] == 1.0
    assert ctrl.level[car] == 1.0


def test_a_count_never_replaces_a_track_started_at_its_own_sensor() -> None:
    """Car A (13 m/s), then car B (10 m/s) a second later at the same radar, A 13 m ahead:
    B's count must not take over A's track (it once did, and A drove on in the dark)."""
    site = _road()
    ctrl = _warm(site, RATED)
    t0 = NIGHT_T0 + 121
    ctrl.step(t0, [_count("west", cars=1, speed=13.0)])
    ctrl.step(t0 + 1, [_count("west", cars=1, speed=10.0)])
    assert ctrl._presence.tracks.size == 2
    for t in range(2, 62):
        ctrl.step(t0 + t)
    a = _nearest(site, 13.0 * 61)  # 793 m: past B's lit zone (up to 760 m)
    assert ctrl.level[a] == 1.0


def test_a_later_radar_count_re_acquires_the_track_it_continues() -> None:
    """A car counted at the west radar and again at the middle one 40 s later: one track
    (the new one), so its lit zone is narrow again."""
    site = _road(sensors=(("west", 0.0, "radar"), ("mid", 520.0, "radar")))
    ctrl = _warm(site, RATED)
    t0 = NIGHT_T0 + 121
    ctrl.step(t0, [_count("west", cars=1, speed=13.0)])
    for t in range(1, 40):
        ctrl.step(t0 + t)
    ctrl.step(t0 + 40, [_count("mid", cars=1, speed=13.0)])
    assert ctrl._presence.tracks.size == 1
    assert ctrl._presence.tracks.sensor.tolist() == [1]


def test_hold_0_lights_while_the_road_user_is_near_then_releases() -> None:
    """hold_s 0 once validated and lit nothing at all; it means: lit exactly while in the
    road user's zone."""
    site = _road()
    ctrl = _warm(site, dataclasses.replace(RATED, hold_s=0.0, track_s=0.0))
    t0 = NIGHT_T0 + 121
    ctrl.step(t0, [_count("west", cars=1, speed=13.0)])
    lit = np.flatnonzero(ctrl.level == 1.0).tolist()
    assert lit[:3] == [0, 1, 2]
    ctrl.step(t0 + 1)  # track_s 0: lit at the sensor only, for the tick it counted
    assert ctrl.level[0] < 1.0


def test_the_presence_level_is_per_road_type() -> None:
    """M road: the warranted class plus one (a lone car on an empty arterial at M6 gets
    M5, not the rated M3); P road: the rated class."""
    for ladder, want in ((("M3", "M4", "M5", "M6"), 0.5), (("P3", "P4", "P5", "P6"), 1.0)):
        site = _road(ladder=ladder)
        ctrl = _warm(site, PresenceParams(entry_s=0.0))
        assert ctrl.cluster_step.tolist() == [3]
        ctrl.step(NIGHT_T0 + 121, [_count("west", cars=1, speed=13.0)])
        assert ctrl.level[0] == pytest.approx(want)


def test_entry_lamps_light_the_road_ends_all_night() -> None:
    """Where road users come on, the lamps over entry_s of travel at the speed limit (3 s x
    13.9 m/s = 41.7 m: the lamps at 20 and 60 m, the nearer to 41.7 m) are at the presence
    level with nobody counted; on a one-way road only at its start."""
    for two_way, lit in ((True, [0, 1, 28, 29]), (False, [0, 1])):
        site = _road(two_way=two_way)
        ctrl = _warm(site, dataclasses.replace(RATED, entry_s=3.0))
        assert np.flatnonzero(ctrl.level == 1.0).tolist() == lit
        assert np.all(np.delete(ctrl.level, lit) == pytest.approx(0.3))


def test_a_pir_count_lights_both_ways_and_is_never_taken_over() -> None:
    """A PIR says no direction: its walker is followed both ways. A radar count going the
    other way past the PIR's tracks does not re-acquire them (at a road's end a count can
    be someone leaving or someone coming on)."""
    site = _road(lamps=20, spacing=30.0, ladder=("P3", "P4", "P5"),
                 sensors=(("pir", 300.0, "pir"), ("east", 600.0, "radar")))  # fmt: skip
    ctrl = _warm(site, RATED)
    t0 = NIGHT_T0 + 121
    ctrl.step(t0, [_count("pir", walkers=1)])
    assert ctrl._presence.tracks.size == 2
    here = _nearest(site, 300.0)
    assert ctrl.level[here - 2] == ctrl.level[here + 2] == 1.0  # both ways
    ctrl.step(t0 + 1, [_count("east", walkers=1, direction=-1, speed=1.4)])
    assert ctrl._presence.tracks.size == 3


def test_presence_level_in_the_config_is_a_clear_error() -> None:
    data = {
        "gateway_id": "gw",
        "site": {"latitude": 52.0, "longitude": 5.0},
        "controller": {"presence": {"level": 1.0}},
        "clusters": [],
    }
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert "m_steps_up" in str(info.value)
    assert "pc_level" in str(info.value)


def test_quiet_hours_cap_presence_at_the_declared_class_and_explain_says_why() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from edge.control import explain
    from edge.site import build_controller

    doc = {
        **yaml.safe_load(EXAMPLE.read_text()),
        "quiet_hours": [{"id": "curfew", "target": "cyclepath", "class": "P5", "start": "01:00",
                         "end": "05:00", "reason": "bats in the park"}],
    }  # fmt: skip
    site = parse_config(doc)
    two_am = datetime(2026, 11, 29, 2, 0, tzinfo=ZoneInfo("Europe/Amsterdam")).timestamp()
    ctrl = build_controller(site, start=two_am - 1)
    ctrl.step(two_am, [_count("cyc-pir-west", bikes=1)])
    lamp = "cyc-001"
    ex = explain(ctrl, lamp)
    assert ex.boost
    assert ex.layers[-1].kind == "quiet hours (class P5: bats in the park)"
    assert ex.target == pytest.approx(3.0 / 5.0)  # P5 of the rated P4
    bad = {**doc, "quiet_hours": [{**doc["quiet_hours"][0], "class": "M5"}]}
    with pytest.raises(ConfigError) as info:
        parse_config(bad)
    assert "quiet_hours[0].class" in str(info.value)
    assert "not in cluster cyclepath's family" in str(info.value)


def test_explain_names_the_requirement_and_how_the_lamp_meets_it() -> None:
    from edge.control import explain

    site = _road()
    ctrl = _warm(site, PresenceParams(entry_s=0.0))
    ex = explain(ctrl, "l10")
    assert ex.required_class == "M5"
    assert ex.required_level == pytest.approx(0.5)
    assert "under 15%: two classes below the rated M3" in ex.requirement_why
    assert (
        ex.meets == "nobody near: at 30%; a road user here is lit at 50% within a tick of its count"
    )
    ctrl.step(NIGHT_T0 + 121, [_count("west", cars=1, speed=13.0)])
    ex = explain(ctrl, "l0")
    assert ex.meets == "a road user is near: lit at 50% (presence level 50%)"
    lines = ex.lines()
    assert any(ln.startswith("requirement: M5 (measured flow") for ln in lines)
    assert "meets it: a road user is near: lit at 50% (presence level 50%)" in lines
    # a boost that ends at a moment: written as the caller says (the daemon: the site's zone)
    ending = dataclasses.replace(ex, boost_until=NIGHT_T0 + 130)
    held = [ln for ln in ending.lines(lambda t: f"<{t - NIGHT_T0:.0f}>")
            if ln.startswith("presence boost")]  # fmt: skip
    assert held == ["presence boost from sensor west until <130>"]
    # a presence level under the requirement says so
    low = _warm(site, PresenceParams(entry_s=0.0, m_steps_up=0))
    assert "BELOW the required 50%" in explain(low, "l10").meets


def test_quiet_hours_for_all_apply_to_the_roads_of_the_class_family() -> None:
    from edge.site import CoreSite

    doc = yaml.safe_load(EXAMPLE.read_text())
    quiet = {"id": "q", "class": "P5", "start": "01:00", "end": "05:00", "reason": "test"}
    site = parse_config({**doc, "quiet_hours": [quiet]})  # target "all": P roads only
    targets = [p.target for p in CoreSite.of(site).profiles if p.quiet_class]
    assert targets == ["residential", "cyclepath"]
    with pytest.raises(ConfigError) as info:
        parse_config({**doc, "quiet_hours": [{**quiet, "clas": "P5"}]})
    assert "did you mean class" in str(info.value)


def test_a_mean_speed_of_several_road_users_is_not_taken_as_each_ones() -> None:
    """One report: a car forward at 16 m/s and a walker backward, mean 8.7 m/s. The car is
    followed within a car's band, not at 8.7 m/s +- 12 % (its lamps fell behind it)."""
    site = _road()
    ctrl = _warm(site, RATED)
    t0 = NIGHT_T0 + 121
    both = SensorCounts(sensor="west", interval_s=1.0, forward=(1, 0, 0), backward=(0, 0, 1),
                        mean_speed_mps=8.7)  # fmt: skip
    ctrl.step(t0, [both])
    for t in range(1, 34):
        ctrl.step(t0 + t)
    assert ctrl.level[_nearest(site, 16.0 * 33)] == 1.0


def test_a_re_acquired_track_keeps_lit_where_its_road_user_may_still_be() -> None:
    """Car A, counted at radar a with no speed, drives at 7 m/s; 30 s later car B (13 m/s)
    passes radar b at 300 m, inside A's span: B's count replaces A's track, and B's new
    track must keep A's part of the road (from 208 m, 30 s at the slowest car speed) lit
    until A reaches b (past the 5 s that A's own lamps are held)."""
    site = _road(sensors=(("a", 0.0, "radar"), ("b", 300.0, "radar")))
    ctrl = _warm(site, RATED)
    t0 = NIGHT_T0 + 121
    ctrl.step(t0, [_count("a", cars=1)])
    for t in range(1, 30):
        ctrl.step(t0 + t)
    ctrl.step(t0 + 30, [_count("b", cars=1, speed=13.0)])
    assert ctrl._presence.tracks.size == 1
    for t in range(31, 43):
        ctrl.step(t0 + t)
        assert ctrl.level[_nearest(site, 7.0 * t)] == 1.0, t
