"""The simulator: determinism, trace replay by hand, the safety KPI, faults (on the first hours
of a short night: the behaviour, not the figures of a whole one)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from edge.config import SiteConfig, load_config, parse_config
from edge.errors import ConfigError
from simulator.engine import night_window, simulate
from simulator.scenario import Fault, Scenario, bundled_scenarios, load_scenario
from simulator.traffic import TraceError, TrafficModel, generate_arrivals, read_trace
from tests.simulator.sites import SHORT_S, SUMMER, small_site


def _trace(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text("t_s,cluster,kind,direction,speed_mps\n" + "\n".join(rows) + "\n")
    return path


def test_same_seed_same_night_other_seed_other_night() -> None:
    site = small_site()
    runs = [
        simulate(site, scenario=Scenario(), day=SUMMER, seed=s, span_s=SHORT_S).kpis
        for s in (7, 7, 8)
    ]
    for k in runs:
        k.pop("wall_s")
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert runs[0]["ticks"] * runs[0]["tick_s"] == SHORT_S  # the first three hours only
    assert runs[0]["safety"]["road_users"] > 50


def test_trace_replay_matches_a_hand_computed_case(tmp_path: Path) -> None:
    site = small_site()
    window = night_window(site, SUMMER)
    # One car, 10 m/s, entering the 100 m road at position 0, 2 h into the night (lamps
    # dimmed by then), half a tick after a tick: on the road at 5, 15, ... 95 m = 10 ticks.
    t = 7200.5
    trace = _trace(tmp_path, [f"{t},road,car,+1,10.0"])
    arrivals = read_trace(trace, site)
    assert len(arrivals) == 1
    ideal = Scenario(sensors="ideal")
    k = simulate(site, scenario=ideal, day=SUMMER, seed=1, span_s=SHORT_S, arrivals=arrivals).kpis
    s = k["safety"]
    assert s["road_users"] == 1
    assert s["road_user_seconds"] == 10.0
    assert s["detected"] == 1
    # counted by the west sensor the tick it entered; the lamps ahead reach the rated class
    # (a P road: the requirement while anyone is there) that tick
    assert s["underlit_share"] == 0.0
    assert s["detection_to_requirement_p50_s"] == 0.0
    assert window.start < window.sunset
    # the same car, presence boost off: the lamps stay at the class level the whole way
    k_off = simulate(site, scenario=ideal, day=SUMMER, seed=1, span_s=SHORT_S, arrivals=arrivals,
                     presence=False).kpis  # fmt: skip
    assert k_off["safety"]["underlit_share"] == 1.0
    assert k_off["safety"]["worst_road_user_underlit_s"] == 10.0
    assert k_off["safety"]["never_met_after_detection"] == 1
    assert k_off["energy_kwh"] < k["energy_kwh"]


def test_safety_kpi_catches_a_broken_policy_and_passes_the_real_one() -> None:
    site = small_site()
    simple = Scenario(sensors="ideal", mid_road={}, linger={"share": 0.0})
    real = simulate(site, scenario=simple, day=SUMMER, seed=3, span_s=SHORT_S).kpis
    broken = simulate(
        site, scenario=simple, day=SUMMER, seed=3, span_s=SHORT_S, presence=False
    ).kpis
    assert real["safety"]["underlit_share"] < 0.05
    assert broken["safety"]["underlit_share"] > 0.5
    assert broken["energy_kwh"] < real["energy_kwh"] < real["baseline_full_kwh"]


@pytest.mark.parametrize(
    ("row", "phrase"),
    [
        ("abc,road,car,1,10", "t_s 'abc' is not a number"),
        ("10,avenue,car,1,10", "unknown cluster 'avenue'"),
        ("10,road,tram,1,10", "kind 'tram'"),
        ("10,road,car,0,10", "direction '0'"),
        ("10,road,car,1,-3", "speed_mps -3"),
        ("10,road,car,1", "expected 5 columns"),
        ("10,road,car,1,10,120", "expected 5 columns"),
    ],
)
def test_bad_trace_rows_name_their_line(tmp_path: Path, row: str, phrase: str) -> None:
    trace = _trace(tmp_path, ["5,road,bike,-1,5.5", row])
    with pytest.raises(TraceError) as info:
        read_trace(trace, small_site())
    assert info.value.line == 3
    assert phrase in str(info.value)


def test_trace_header_must_be_exact(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("time,cluster,kind,direction,speed\n1,road,car,1,10\n")
    with pytest.raises(TraceError, match="line 1"):
        read_trace(path, small_site())


def test_generated_traffic_follows_the_time_of_day_profile() -> None:
    site = load_config(Path(__file__).resolve().parents[2] / "config" / "site.example.yaml")
    start = night_window(site, date(2026, 11, 28)).start
    arr = generate_arrivals(site, start=start, duration_s=14 * 3600, seed=5,
                            model=TrafficModel.simple())  # fmt: skip
    hours = (arr.t_s // 3600).astype(int)
    per_hour = np.bincount(hours, minlength=14)
    # evening (first hours after ~16:20) busier than 03:00-04:00 (hour index ~11)
    assert per_hour[1] > 3 * per_hour[11]
    assert set(np.unique(arr.kind)) == {0, 1, 2}
    assert np.all(arr.speed_mps > 0)


def test_dead_sensor_puts_its_road_in_failsafe() -> None:
    site = small_site()
    sc = Scenario(faults=[Fault(kind="sensor_dead", sensor="west")])
    k = simulate(site, scenario=sc, day=SUMMER, seed=2, span_s=SHORT_S).kpis
    dark_h = k["night"]["dark_hours"]
    assert k["failsafe"]["cluster_hours"] > 0.8 * dark_h - 300 / 3600
    healthy = simulate(site, scenario=Scenario(), day=SUMMER, seed=2, span_s=SHORT_S).kpis
    assert healthy["failsafe"]["cluster_hours"] == 0.0
    assert k["energy_kwh"] > healthy["energy_kwh"]  # rated class: safer, not cheaper


def test_failed_lamp_saves_its_power_and_day_burner_costs(tmp_path: Path) -> None:
    site = small_site()
    base = simulate(site, scenario=Scenario(), day=SUMMER, seed=4, span_s=SHORT_S).kpis
    failed = simulate(site, scenario=Scenario(faults=[Fault(kind="lamp_failure", lamp="road-001")]),
                      day=SUMMER, seed=4, span_s=SHORT_S).kpis  # fmt: skip
    burner = simulate(site, scenario=Scenario(faults=[Fault(kind="day_burner", lamp="road-001")]),
                      day=SUMMER, seed=4, span_s=SHORT_S).kpis  # fmt: skip
    assert failed["energy_kwh"] < base["energy_kwh"] < burner["energy_kwh"]


def test_bundled_scenarios_load_and_name_real_ids() -> None:
    site = load_config(Path(__file__).resolve().parents[2] / "config" / "site.example.yaml")
    sensors = {s.id for c in site.clusters for s in c.sensors}
    lamps = {lamp.id for lamp in site.all_lamps()}
    names = bundled_scenarios()
    assert set(names) == {
        "quiet-residential",
        "arterial",
        "sensor-failure",
        "lamp-failure",
        "festival",
    }
    for path in names.values():
        sc = load_scenario(path)
        for f in sc.faults:
            assert (f.sensor in sensors) if f.sensor else (f.lamp in lamps)


def test_a_fault_on_an_unknown_sensor_or_lamp_names_it() -> None:
    sc = Scenario(
        faults=[Fault(kind="sensor_dead", sensor="wset"), Fault(kind="lamp_failure", lamp="x")]
    )
    with pytest.raises(ConfigError) as info:
        simulate(small_site(), scenario=sc, day=SUMMER, seed=1)
    paths = [i.path for i in info.value.issues]
    assert paths == ["faults[0].sensor", "faults[1].lamp"]
    assert "did you mean west" in str(info.value)


def test_a_road_user_leaving_its_road_counts_at_no_other_road() -> None:
    """The sensor search puts every road on one key line; a move past a road's end must not
    reach the next road's first sensor (it did once, and inflated the next road's counts)."""
    from edge.control import ClusterSpec, LampTable, SensorSpec, SiteSpec
    from simulator.street import SensorBank, SensorModel

    clusters = tuple(
        ClusterSpec(id=f"c{k}", length_m=100.0, speed_limit_mps=14.0, capacity_per_h=1000.0,
                    ladder=("M3", "M4"))
        for k in range(2)
    )  # fmt: skip
    sensors = (SensorSpec(id="end", cluster=0, position_m=100.0),
               SensorSpec(id="next-start", cluster=1, position_m=0.0))  # fmt: skip
    lamps = LampTable.from_columns(
        ids=["a", "b"], cluster=np.array([0, 1]), position_m=np.array([50.0, 50.0]),
        nominal_w=np.full(2, 60.0), floor=np.full(2, 0.3), ceiling=np.ones(2),
    )  # fmt: skip
    bank = SensorBank(site=SiteSpec(clusters=clusters, sensors=sensors, lamps=lamps),
                      seed=0, model=SensorModel.ideal(), users=1)  # fmt: skip
    one = np.ones(1, dtype=np.intp)
    # 95 m -> 120 m on road 0: past its end sensor, 20 m beyond the road
    bank.detect(1.0, np.zeros(1), np.array([95.0]), np.array([120.0]),
                np.zeros(1, dtype=np.intp), one, np.zeros(1, dtype=np.intp), np.array([25.0]),
                np.zeros(1, dtype=np.intp))  # fmt: skip
    assert bank.pending[0].sum() == 1  # the end sensor of its own road
    assert bank.pending[1].sum() == 0  # not the first sensor of the next road


def _m_road(adapt: list[str]) -> SiteConfig:
    data = {
        "gateway_id": "test-gw",
        "site": {"latitude": 52.09, "longitude": 5.12, "timezone": "Europe/Amsterdam"},
        "controller": {"class_thresholds": [0.3, 0.15, 0.05]},
        "clusters": [
            {
                "id": "road", "road_type": "arterial", "length_m": 400, "speed_limit_kmh": 50,
                "capacity_per_h": 1800, "rated_class": "M3", "adapt_classes": adapt,
                "nominal_w": 90, "floor": 0.3,
                "lamp_array": {"count": 10, "spacing_m": 40, "start_m": 20},
                "sensors": [{"id": "west", "position_m": 0, "source": "mqtt"}],
            }
        ],
    }  # fmt: skip
    return parse_config(data)


def test_requirement_catches_an_m_road_dimmed_below_its_warranted_class(tmp_path: Path) -> None:
    """60 cars an hour on an 1,800/h road warrant M5 (two classes below the rated M3): a
    policy that runs the road at M6 with no presence boost leaves every car under-lit by
    0.2; one that stops at M5 leaves none, whatever the policy's own settings say."""
    rows = [f"{3600 + 60 * i + 0.5},road,car,+1,12.5" for i in range(120)]
    arrivals = read_trace(_trace(tmp_path, rows), _m_road(["M4", "M5", "M6"]))
    ideal = Scenario(sensors="ideal")
    k = {
        tuple(adapt): simulate(_m_road(adapt), scenario=ideal, day=SUMMER, seed=1, span_s=4 * 3600,
                               arrivals=arrivals, presence=False).kpis["safety"]
        for adapt in (["M4", "M5", "M6"], ["M4", "M5"])
    }  # fmt: skip
    too_dim, warranted = k[("M4", "M5", "M6")], k[("M4", "M5")]
    assert too_dim["underlit_share"] > 0.9
    assert too_dim["worst_shortfall"] == pytest.approx(0.2)
    assert warranted["underlit_share"] == 0.0
    assert warranted["road_users"] == too_dim["road_users"] == 120


def _bank(model: Any, sensor_type: str = "radar", users: int = 1) -> Any:
    from edge.control import ClusterSpec, LampTable, SensorSpec, SiteSpec
    from simulator.street import SensorBank

    site = SiteSpec(
        clusters=(ClusterSpec(id="c", length_m=100.0, speed_limit_mps=14.0,
                              capacity_per_h=1000.0, ladder=("P3",)),),
        sensors=(SensorSpec(id="s", cluster=0, position_m=50.0, type=sensor_type),),
        lamps=LampTable.from_columns(ids=["a"], cluster=[0], position_m=[50.0],
                                     nominal_w=[60.0], floor=[0.3], ceiling=[1.0]),
    )  # fmt: skip
    return SensorBank(site=site, seed=0, model=model, users=users)


def _cross(bank: Any, now: float, n: int, direction: int = 1, speed: float = 10.0) -> None:
    """``n`` road users cross the sensor at 50 m during the tick ending at ``now``."""
    users = np.arange(n, dtype=np.intp)
    prev, new = (40.0, 60.0) if direction > 0 else (60.0, 40.0)
    bank.detect(now, np.full(n, now - 1.0), np.full(n, prev), np.full(n, new),
                np.zeros(n, dtype=np.intp), np.full(n, direction, dtype=np.intp),
                np.zeros(n, dtype=np.intp), np.full(n, speed), users)  # fmt: skip


def test_realistic_radar_misses_some_and_measures_speed_with_noise() -> None:
    from simulator.street import SensorModel

    bank = _bank(SensorModel(radar_miss=0.2, speed_noise=0.1, latency_s=(0.0, 0.0)), users=5000)
    _cross(bank, 10.0, 5000)
    batch = bank.collect(10.0, 1.0)
    counted = int(batch.forward.sum())
    assert 5000 * 0.8 - 150 < counted < 5000 * 0.8 + 150
    assert bank.missed == 5000 - counted
    assert 9.9 < float(batch.mean_speed_mps[0]) < 10.1  # the noise averages out
    assert int(np.isfinite(bank.seen_at).sum()) == counted


def test_a_pir_says_neither_direction_nor_speed() -> None:
    from simulator.street import SensorModel

    bank = _bank(SensorModel.ideal(), sensor_type="pir", users=3)
    _cross(bank, 10.0, 3, direction=-1)
    batch = bank.collect(10.0, 1.0)
    assert batch.forward.tolist() == [[3, 0, 0]]
    assert batch.backward.sum() == 0
    assert batch.mean_speed_mps.tolist() == [0.0]


def test_a_report_reaches_the_gateway_after_its_latency() -> None:
    from simulator.street import SensorModel

    bank = _bank(SensorModel(radar_miss=0.0, speed_noise=0.0, latency_s=(1.2, 1.2)))
    _cross(bank, 10.0, 1)  # crosses at 9.5 (halfway through the tick): arrives at 10.7
    assert bank.collect(10.0, 1.0) is None
    batch = bank.collect(11.0, 1.0)
    assert batch is not None
    assert int(batch.forward.sum()) == 1
    assert bank.seen_at[0] == pytest.approx(9.5)
    assert bank.heard_at[0] == 11.0


def test_generated_traffic_follows_the_published_weekday_and_weekend_shape() -> None:
    """NT-3: the weekday peaks at 17:00, Saturday's small hours are busier than a
    Wednesday's, walking and cycling are seasonal, residential roads have side entries."""
    site = load_config(Path(__file__).resolve().parents[2] / "config" / "site.example.yaml")

    def night(day: date) -> Any:
        start = night_window(site, day).start
        return start, generate_arrivals(site, start=start, duration_s=14 * 3600, seed=5)

    def local_hours(start: float, arr: Any) -> np.ndarray:
        tz = ZoneInfo(site.site.timezone)
        return np.array([datetime.fromtimestamp(start + t, tz).hour for t in arr.t_s])

    wed_start, wed = night(date(2027, 1, 13))  # Wednesday -> Thursday
    sat_start, sat = night(date(2027, 1, 15))  # Friday -> Saturday: Saturday's small hours
    wed_h, sat_h = local_hours(wed_start, wed), local_hours(sat_start, sat)
    assert (wed_h == 17).sum() > 5 * (wed_h == 23).sum()
    assert ((sat_h >= 0) & (sat_h < 3)).sum() > 2 * ((wed_h >= 0) & (wed_h < 3)).sum()
    res = wed.cluster == 1
    mid = np.isfinite(wed.entry_m[res]).mean()
    assert 0.05 < mid < 0.16
    _, july = night(date(2027, 7, 14))
    bikes_h = [np.mean(a.kind == 1) for a in (wed, july)]
    assert bikes_h[1] > bikes_h[0]  # a larger share of bikes in summer
    peds = wed.kind == 2
    assert 0.1 < np.isfinite(wed.linger_after_m[peds]).mean() < 0.3
    assert np.all(wed.linger_s[np.isfinite(wed.linger_after_m)] >= 10)


def test_a_lingering_pedestrian_waits_then_walks_on() -> None:
    from simulator.traffic import Arrivals
    from simulator.users import RoadUsers

    arr = Arrivals.build([0.0], [0], [2], [1], [1.0], [10.0], [5.0], [20.0])
    users = RoadUsers(arr, np.array([100.0]))
    pos = []
    for i in range(40):
        users.advance(float(i + 1), 1.0)
        pos.append(float(users.pos[0]))
    assert pos[0] == 11.0  # came on mid-road at 10 m
    assert pos[4] == pos[5] == pos[20] == 15.0  # stopped after 5 m, for 20 s
    assert pos[30] == pytest.approx(15.0 + 31 - 25)  # walks on at t = 25 s


def test_the_worst_road_user_may_be_one_no_sensor_saw_and_latency_is_measured(
    tmp_path: Path,
) -> None:
    """A walker comes out of a front door mid-road and walks on in the dark (no sensor ever
    counts it): it is the worst road user, reported as never counted. A car counted at the
    west end waits for its report (1.2 s here) before its lamps rise: the count -> requirement
    latency is that wait, not 0 by construction."""
    site = small_site(presence={"entry_s": 0})
    rows = ["3600.5,road,pedestrian,+1,1.0,50,,", "3700.5,road,car,+1,8.0,,,"]
    trace = tmp_path / "trace.csv"
    trace.write_text("t_s,cluster,kind,direction,speed_mps,entry_m,linger_after_m,linger_s\n"
                     + "\n".join(rows) + "\n")  # fmt: skip
    arrivals = read_trace(trace, site)
    late = Scenario(sensors={"radar_miss": 0.0, "speed_noise": 0.0, "latency_s": (1.2, 1.2)})
    s = simulate(site, scenario=late, day=SUMMER, seed=1, span_s=SHORT_S, arrivals=arrivals).kpis[
        "safety"
    ]
    assert s["road_users"] == 2
    assert s["undetected"] == 1
    assert s["worst_road_user_detected"] is False
    assert s["worst_road_user_underlit_s"] == 50.0
    assert s["detected"] == 1
    assert 1.0 <= s["detection_to_requirement_p99_s"] <= 3.0


def test_road_users_are_scored_from_sunset_whatever_the_policy_calls_night(
    tmp_path: Path,
) -> None:
    """A policy that switches on two hours after sunset leaves a car 30 minutes after sunset
    in the dark: it is scored, and under-lit all the way (the night's own flag would have
    skipped it)."""
    site = small_site(night={"sunset_offset_min": 120})
    arrivals = read_trace(_trace(tmp_path, ["2700.5,road,car,+1,10.0"]), site)
    s = simulate(site, scenario=Scenario(sensors="ideal"), day=SUMMER, seed=1, span_s=SHORT_S,
                 arrivals=arrivals).kpis["safety"]  # fmt: skip
    assert s["road_users"] == 1
    assert s["underlit_share"] == 1.0
