"""Property tests: DESIGN.md's safety invariants, and vectorised == naive reference."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edge.control import (
    ClusterSpec,
    DimmingController,
    LampTable,
    LuxReading,
    NightParams,
    Override,
    PolicyParams,
    SensorCounts,
    SensorFault,
    SensorSpec,
    SiteSpec,
)
from edge.control._clusters import ClusterTraffic
from edge.control._keyline import KeyLine
from tests.edge.control_strategies import (
    LADDERS,
    NIGHT_T0,
    nights,
    policies,
    sites,
    small_site,
)
from tests.edge.reference_controller import ReferenceController

# STREETLIGHT_EXAMPLES=2000 scripts/test -k properties runs a deeper search.
EXAMPLES = int(os.environ.get("STREETLIGHT_EXAMPLES", "60"))
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(data=st.data(), lux=st.booleans())
def test_vectorised_matches_reference(data: st.DataObject, lux: bool) -> None:
    site = data.draw(sites())
    params = data.draw(policies(lux=lux))
    ticks = data.draw(nights(site, lux=lux))
    vec = DimmingController(site=site, params=params, start=NIGHT_T0)
    ref = ReferenceController(site=site, params=params, start=NIGHT_T0)
    t = NIGHT_T0
    for tick in ticks:
        t += tick.dt
        if tick.override is not None:
            vec.add_override(tick.override)
            ref.add_override(tick.override)
        if tick.clear is not None:
            vec.clear_override(tick.clear)
            ref.clear_override(tick.clear)
        result = vec.step(t, tick.observations)
        ref.step(t, list(tick.observations))
        assert result.night == ref.night
        np.testing.assert_allclose(vec.level, [m.level for m in ref.lamps], atol=1e-6)
        np.testing.assert_allclose(vec.target, [m.target for m in ref.lamps], atol=1e-6)
        assert sorted(result.send.tolist()) == ref.sent  # the same leases go out ...
        assert (result.send_seq == ref.step_seq).all()  # ... with the same seq
        np.testing.assert_allclose(vec.cluster_level, ref.cluster_level, atol=1e-9)
        np.testing.assert_array_equal(vec.cluster_failsafe, ref.cluster_failsafe)
        np.testing.assert_allclose(vec.energy_wh, ref.energy_wh, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(vec.baseline_full_wh, ref.baseline_full_wh, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(
            vec.baseline_schedule_wh, ref.baseline_schedule_wh, rtol=1e-6, atol=1e-6
        )
        np.testing.assert_allclose(
            vec.baseline_reference_wh, ref.baseline_reference_wh, rtol=1e-6, atol=1e-6
        )
    lamp_wh = vec.lamp_energy_wh()
    np.testing.assert_allclose(
        np.bincount(site.lamps.cluster, weights=lamp_wh, minlength=len(site.clusters)),
        vec.energy_wh,
        rtol=1e-6,
        atol=1e-6,
    )


def _run(
    site: SiteSpec, params: PolicyParams, ticks: list
) -> list[tuple[DimmingController, float, np.ndarray]]:
    """Step a controller through ticks, yielding (ctrl, now, levels before the step)."""
    ctrl = DimmingController(site=site, params=params, start=NIGHT_T0)
    out = []
    t = NIGHT_T0
    for tick in ticks:
        t += tick.dt
        before = ctrl.level.copy()
        ctrl.step(t, tick.observations)
        out.append((ctrl, t, before))
    return out


def _no_layers(ticks: list) -> list:
    return [dataclasses.replace(tk, override=None, clear=None) for tk in ticks]


@FAST
@given(data=st.data())
def test_no_lamp_below_floor_at_night(data: st.DataObject) -> None:
    site = data.draw(sites())
    params = data.draw(policies())
    ticks = data.draw(nights(site))
    ctrl = DimmingController(site=site, params=params, start=NIGHT_T0)
    t = NIGHT_T0
    for tick in ticks:
        t += tick.dt
        if tick.override is not None and not tick.override.allow_dark:
            ctrl.add_override(tick.override)
        result = ctrl.step(t, tick.observations)
        assert result.night
        floor = site.lamps.floor * site.lamps.clo
        assert np.all(ctrl.level >= floor - 1e-12), (ctrl.level, floor)


@FAST
@given(data=st.data())
def test_stale_or_faulty_cluster_runs_at_rated_level(data: st.DataObject) -> None:
    site = data.draw(sites())
    params = data.draw(policies())
    ticks = _no_layers(data.draw(nights(site)))
    ctrl = DimmingController(site=site, params=params, start=NIGHT_T0)
    t = NIGHT_T0
    for tick in ticks:
        t += tick.dt
        ctrl.step(t, tick.observations)
        for k in np.flatnonzero(ctrl.cluster_failsafe):
            sl = ctrl.cluster_slice(int(k))
            rated = (
                site.lamps.ceiling[sl] * site.lamps.clo[sl]
            )  # rated level (100%) within the ceiling
            np.testing.assert_allclose(ctrl.target[sl], rated)
            assert ctrl.cluster_step[k] == 0
        # and a cluster is failsafe exactly when one of its sensors is faulty or silent
        for k in range(len(site.clusters)):
            mine = [i for i, s in enumerate(site.sensors) if s.cluster == k]
            health = ctrl.traffic
            bad = any(health.faulty[i] or t - health.last_seen[i] > params.stale_s for i in mine)
            assert bool(ctrl.cluster_failsafe[k]) == bad


@FAST
@given(data=st.data())
def test_lamps_ahead_of_a_road_user_reach_presence_within_one_tick(data: st.DataObject) -> None:
    site = data.draw(sites())
    params = dataclasses.replace(data.draw(policies()), ramp_up_per_s=1.0)
    ctrl = DimmingController(site=site, params=params, start=NIGHT_T0)
    t = NIGHT_T0
    for _ in range(data.draw(st.integers(0, 30))):  # some history first, lamps dimmed
        t += 1.0
        ctrl.step(t)
    if not site.sensors:
        return
    sensor = data.draw(st.sampled_from(site.sensors))
    direction = data.draw(st.sampled_from([1, -1]))
    speed = data.draw(st.floats(1.0, 25.0))
    counts = (1, 0, 0)
    obs = SensorCounts(
        sensor=sensor.id,
        interval_s=1.0,
        forward=counts if direction > 0 else (0, 0, 0),
        backward=counts if direction < 0 else (0, 0, 0),
        mean_speed_mps=speed,
    )
    t += 1.0  # exactly one tick
    ctrl.step(t, [obs])
    lamps = site.lamps
    mine = np.flatnonzero(lamps.cluster == sensor.cluster)
    ahead_d = (lamps.position_m[mine] - sensor.position_m) * direction
    within = mine[(ahead_d >= 0) & (ahead_d <= speed * params.presence.lead_s)]
    # the nearest min_lamps_ahead lamps ahead count as within too
    ahead = mine[ahead_d >= 0]
    nearest = ahead[np.argsort(ahead_d[ahead_d >= 0], kind="stable")][
        : params.presence.min_lamps_ahead
    ]
    for i in np.union1d(within, nearest):
        want = min(ctrl.presence_level[i], lamps.ceiling[i]) * lamps.clo[i]
        assert ctrl.level[i] >= want - 1e-9, (i, ctrl.level[i], want)


@FAST
@given(data=st.data())
def test_ramps_never_exceed_their_rates(data: st.DataObject) -> None:
    site = data.draw(sites())
    params = data.draw(policies())
    ticks = data.draw(nights(site))
    ctrl = DimmingController(site=site, params=params, start=NIGHT_T0)
    floor = site.lamps.floor * site.lamps.clo
    t = NIGHT_T0
    for tick in ticks:
        t += tick.dt
        if tick.override is not None:
            ctrl.add_override(tick.override)
        if tick.clear is not None:
            ctrl.clear_override(tick.clear)
        before = ctrl.level.copy()
        ctrl.step(t, tick.observations)
        delta = ctrl.level - before
        assert np.all(delta >= -params.ramp_down_per_s * tick.dt - 1e-9)
        # up moves are within the rate, or the jump to the night floor (safety over comfort)
        fast = delta > params.ramp_up_per_s * max(tick.dt, params.tick_s) + 1e-9
        assert np.all(np.isclose(ctrl.level[fast], floor[fast])), (before[fast], ctrl.level[fast])


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_overrides_expire(data: st.DataObject) -> None:
    site = data.draw(sites())
    params = data.draw(policies())
    ctrl = DimmingController(site=site, params=params, start=NIGHT_T0)
    target = data.draw(st.sampled_from(["all", *(c.id for c in site.clusters), site.lamps.ids[0]]))
    lifetime = data.draw(st.floats(2.0, 120.0))
    level = data.draw(st.sampled_from([0.45, 0.7, 1.0]))
    ctrl.add_override(
        Override(id="ov", target=target, op="set", level=level, expires_at=NIGHT_T0 + lifetime)
    )
    twin = DimmingController(site=site, params=params, start=NIGHT_T0)  # never had the override
    t = NIGHT_T0
    expired_events = []
    while t < NIGHT_T0 + lifetime + 5:
        t += 1.0
        r = ctrl.step(t)
        twin.step(t)
        expired_events += [e for e in r.events if e.kind == "override_expired"]
        if t < NIGHT_T0 + lifetime:
            assert [o.id for o in ctrl.overrides] == ["ov"]
    assert ctrl.overrides == []
    assert [e.data["id"] for e in expired_events] == ["ov"]
    np.testing.assert_allclose(ctrl.target, twin.target)


def test_lux_hysteresis_switches_night_and_day() -> None:
    site = small_site()
    params = PolicyParams(
        night=NightParams(latitude=52.0, longitude=5.0, mode="lux", lux_sensor="lux-1")
    )
    ctrl = DimmingController(site=site, params=params, start=NIGHT_T0)
    t = NIGHT_T0 + 1
    assert ctrl.step(t, [LuxReading(sensor="lux-1", lux=100.0)]).night is False
    assert ctrl.step(t + 1, [LuxReading(sensor="lux-1", lux=30.0)]).night is False  # between on/off
    assert ctrl.step(t + 2, [LuxReading(sensor="lux-1", lux=5.0)]).night is True
    assert (
        ctrl.step(t + 3, [LuxReading(sensor="lux-1", lux=30.0)]).night is True
    )  # hysteresis holds
    r = ctrl.step(t + 4, [SensorFault(sensor="nope")])
    assert [e.kind for e in r.events] == ["rejected"]


@FAST
@given(
    keys=st.lists(
        st.one_of(st.integers(-50, 50).map(float), st.floats(-1e4, 1e4)), min_size=0, max_size=60
    ),
    queries=st.lists(st.floats(-2e4, 2e4), min_size=64, max_size=100),
)
@example(keys=[0.0, 2.2250738585072014e-308], queries=[0.0] * 64)  # scale overflowed to inf
def test_key_line_finds_what_searchsorted_finds(keys: list[float], queries: list[float]) -> None:
    """The bucket-table search equals numpy's binary search, duplicates, uneven lines (the
    searchsorted fall-back) and queries beyond either end included."""
    line = KeyLine(np.sort(np.array(keys, dtype=np.float64)))
    q = np.array(queries + keys[:5], dtype=np.float64)
    np.testing.assert_array_equal(line.left(q), line.keys.searchsorted(q, side="left"))
    np.testing.assert_array_equal(line.right(q), line.keys.searchsorted(q, side="right"))


@FAST
@given(data=st.data())
def test_class_steps_follow_the_full_rule_at_every_tick(data: st.DataObject) -> None:
    """A cluster's class is re-derived only when its flow ratio leaves the band that keeps
    it; at every tick the step must still be min(up, max(step, down)) worked out in full,
    with ratios landing exactly on thresholds (capacity 80/h: ratio = road users / 20) and
    just beside them (4,000/h: steps of 0.001)."""
    hysteresis = data.draw(st.sampled_from([0.0, 0.2, 0.5]))
    params = PolicyParams(
        flow_window_s=900.0,
        flow_bins=data.draw(st.sampled_from([1, 3, 15])),
        class_hysteresis=hysteresis,
        stale_s=data.draw(st.sampled_from([40.0, 3600.0, 3600.0])),
    )
    clusters = tuple(
        ClusterSpec(id=f"c{k}", length_m=100.0, speed_limit_mps=13.9,
                    capacity_per_h=data.draw(st.sampled_from([80.0, 4000.0])),
                    ladder=data.draw(st.sampled_from(LADDERS)))
        for k in range(3)
    )  # fmt: skip
    sensors = tuple(
        SensorSpec(id=f"s{j}", cluster=k, position_m=50.0) for j, k in enumerate([0, 0, 1, 2])
    )
    lamps = LampTable.from_columns(
        ids=["l0", "l1", "l2"], cluster=[0, 1, 2], position_m=[50.0] * 3,
        nominal_w=[60.0] * 3, floor=[0.2] * 3, ceiling=[1.0] * 3,
    )  # fmt: skip
    site = SiteSpec(clusters=clusters, sensors=sensors, lamps=lamps)
    traffic = ClusterTraffic(site=site, params=params, start=NIGHT_T0)
    thresholds = params.class_thresholds
    step = [0, 0, 0]
    now = NIGHT_T0 + data.draw(st.sampled_from([0.0, 890.0]))
    for _ in range(data.draw(st.integers(5, 60))):
        now += data.draw(st.sampled_from([1.0, 30.0, 60.0, 120.0]))
        traffic.advance(now)
        counts = st.integers(0, 4) | st.integers(0, 25)
        reports = data.draw(st.lists(st.tuples(st.integers(0, 3), counts), max_size=4))
        if reports:
            who = np.array([s for s, _ in reports], dtype=np.intp)
            traffic.counted(now, who, np.array([float(c) for _, c in reports]))
        if data.draw(st.integers(0, 19)) == 0:
            traffic.fault(now, data.draw(st.integers(0, 3)), data.draw(st.booleans()), "test")
        traffic.update(now, [])
        warm = now - NIGHT_T0 >= params.flow_window_s
        flows = traffic.flows.flows_per_h()
        for k, cl in enumerate(clusters):
            mine = [j for j, s in enumerate(sensors) if s.cluster == k]
            bad = [traffic.faulty[j] or now - traffic.last_seen[j] > params.stale_s for j in mine]
            healthy_flows = (0.0 if b else flows[j] for j, b in zip(mine, bad, strict=True))
            ratio = max(healthy_flows) / cl.capacity_per_h
            top = len(cl.ladder) - 1
            up = min(sum(1 for t in thresholds if ratio < t), top)
            down = min(sum(1 for t in thresholds if ratio < t * (1.0 - hysteresis)), top)
            step[k] = 0 if any(bad) or not warm else min(up, max(step[k], down))
        assert traffic.step.tolist() == step, (now, traffic.flow.tolist())
