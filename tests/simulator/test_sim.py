"""The simulator: determinism, trace replay by hand, the safety KPI, faults, the real CLI."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from edge.config import SiteConfig, load_config, parse_config
from edge.errors import ConfigError
from simulator.engine import night_window, simulate
from simulator.scenario import Fault, Scenario, bundled_scenarios, load_scenario
from simulator.traffic import TraceError, generate_arrivals, read_trace
from tests.conftest import run_cli

SUMMER = date(2026, 6, 21)  # a short night: fast tests


def small_site(**controller: Any) -> SiteConfig:
    data = {
        "gateway_id": "test-gw",
        "site": {"latitude": 52.09, "longitude": 5.12, "timezone": "Europe/Amsterdam"},
        "controller": controller,
        "clusters": [
            {
                "id": "road", "road_type": "residential", "length_m": 100, "speed_limit_kmh": 30,
                "capacity_per_h": 600, "rated_class": "P3", "adapt_classes": ["P4", "P5", "P6"],
                "nominal_w": 40, "lamp_array": {"count": 5, "spacing_m": 20, "start_m": 10},
                "sensors": [
                    {"id": "west", "position_m": 0, "source": "mqtt"},
                    {"id": "east", "position_m": 100, "source": "mqtt"},
                ],
            }
        ],
    }  # fmt: skip
    return parse_config(data)


def _trace(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text("t_s,cluster,kind,direction,speed_mps\n" + "\n".join(rows) + "\n")
    return path


def test_same_seed_same_night_other_seed_other_night() -> None:
    site = small_site()
    runs = [simulate(site, scenario=Scenario(), day=SUMMER, seed=s).kpis for s in (7, 7, 8)]
    for k in runs:
        k.pop("wall_s")
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
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
    k = simulate(site, scenario=Scenario(), day=SUMMER, seed=1, arrivals=arrivals).kpis
    s = k["safety"]
    assert s["road_users"] == 1
    assert s["road_user_seconds"] == 10.0
    assert s["detected"] == 1
    # counted by the west sensor the tick it entered; the lamps ahead reach 100 % that tick
    assert s["below_presence_share"] == 0.0
    assert s["detection_to_presence_p50_s"] == 0.0
    assert window.start < window.sunset
    # the same car, presence boost off: the lamps stay at the class level the whole way
    k_off = simulate(site, scenario=Scenario(), day=SUMMER, seed=1, arrivals=arrivals,
                     presence=False).kpis  # fmt: skip
    assert k_off["safety"]["below_presence_share"] == 1.0
    assert k_off["safety"]["worst_road_user_below_s"] == 10.0
    assert k_off["energy_kwh"] < k["energy_kwh"]


def test_safety_kpi_catches_a_broken_policy_and_passes_the_real_one() -> None:
    site = small_site()
    real = simulate(site, scenario=Scenario(), day=SUMMER, seed=3).kpis
    broken = simulate(site, scenario=Scenario(), day=SUMMER, seed=3, presence=False).kpis
    assert real["safety"]["below_presence_share"] < 0.05
    assert broken["safety"]["below_presence_share"] > 0.5
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
    arr = generate_arrivals(site, start=start, duration_s=14 * 3600, seed=5)
    hours = (arr.t_s // 3600).astype(int)
    per_hour = np.bincount(hours, minlength=14)
    # evening (first hours after ~16:20) busier than 03:00-04:00 (hour index ~11)
    assert per_hour[1] > 3 * per_hour[11]
    assert set(np.unique(arr.kind)) == {0, 1, 2}
    assert np.all(arr.speed_mps > 0)


def test_dead_sensor_puts_its_road_in_failsafe() -> None:
    site = small_site()
    sc = Scenario(faults=[Fault(kind="sensor_dead", sensor="west")])
    k = simulate(site, scenario=sc, day=SUMMER, seed=2).kpis
    dark_h = k["night"]["dark_hours"]
    assert k["failsafe"]["cluster_hours"] > 0.8 * dark_h - 300 / 3600
    healthy = simulate(site, scenario=Scenario(), day=SUMMER, seed=2).kpis
    assert healthy["failsafe"]["cluster_hours"] == 0.0
    assert k["energy_kwh"] > healthy["energy_kwh"]  # rated class: safer, not cheaper


def test_failed_lamp_saves_its_power_and_day_burner_costs(tmp_path: Path) -> None:
    site = small_site()
    base = simulate(site, scenario=Scenario(), day=SUMMER, seed=4).kpis
    failed = simulate(site, scenario=Scenario(faults=[Fault(kind="lamp_failure", lamp="road-001")]),
                      day=SUMMER, seed=4).kpis  # fmt: skip
    burner = simulate(site, scenario=Scenario(faults=[Fault(kind="day_burner", lamp="road-001")]),
                      day=SUMMER, seed=4).kpis  # fmt: skip
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


def test_cli_record_and_report(tmp_path: Path) -> None:
    cfg = tmp_path / "site.yaml"
    cfg.write_text(yaml.safe_dump(small_site().model_dump(mode="json")))
    out = tmp_path / "night.npz"
    rep = tmp_path / "report"
    result = run_cli("sim", "--config", str(cfg), "--date", "2026-06-21", "--seed", "3",
                     "--record", str(out), "--report", str(rep), "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    kpis = json.loads(result.stdout)
    assert kpis["seed"] == 3
    data = np.load(out)
    t, n = kpis["ticks"], kpis["lamps"]
    assert data["level"].shape == (t, n)
    assert data["level"].dtype == np.float32
    assert data["power_w"].shape == (t, n)
    assert data["t"].shape == (t,)
    assert list(data["lamp_ids"][:2]) == ["road-001", "road-002"]
    assert set(data["cluster_ids"]) == {"road"}
    assert float(data["level"].min()) >= 0.0
    assert float(data["level"].max()) <= 1.0
    assert (rep / "report.md").read_text().startswith("# Night report")
    assert json.loads((rep / "kpis.json").read_text())["energy_kwh"] == kpis["energy_kwh"]
    assert (rep / "clusters.png").stat().st_size > 10_000
    assert (rep / "space_time.png").stat().st_size > 10_000


def test_cli_bad_trace_exits_2_with_the_line(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("t_s,cluster,kind,direction,speed_mps\n1,nowhere,car,1,10\n")
    result = run_cli("sim", "--trace", str(trace), "--json")
    assert result.returncode == 2
    assert "line 2" in result.stderr
    assert "unknown cluster 'nowhere'" in result.stderr


def test_cli_sim_with_no_arguments_prints_the_kpis() -> None:
    result = run_cli("sim", timeout=120)
    assert result.returncode == 0, result.stderr
    for phrase in ("saved vs full power", "below presence level", "kWh", "cabinet-0417"):
        assert phrase in result.stdout


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
    from simulator.street import SensorBank

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
                      rng=np.random.default_rng(0))  # fmt: skip
    detected = np.full(1, np.inf)
    one = np.ones(1, dtype=np.intp)
    # 95 m -> 120 m on road 0: past its end sensor, 20 m beyond the road
    bank.detect(1.0, np.array([95.0]), np.array([120.0]), np.zeros(1, dtype=np.intp), one,
                np.zeros(1, dtype=np.intp), np.array([25.0]), np.zeros(1, dtype=np.intp),
                detected)  # fmt: skip
    assert bank.pending[0].sum() == 1  # the end sensor of its own road
    assert bank.pending[1].sum() == 0  # not the first sensor of the next road
