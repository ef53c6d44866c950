"""Several nights and a year: the dates, the months and the year's figures from per-night
KPIs, and that nights run side by side and in worker processes give what a night run alone
gives."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pytest

from edge.config import load_config
from simulator.engine import simulate, simulate_side_by_side
from simulator.nights import annual_kpis, monthly_kpis, simulate_nights, total_kpis, year_dates
from simulator.scenario import Fault, Scenario
from tests.conftest import EXAMPLE
from tests.simulator.sites import small_site


def _night(day: str, kwh: float, seconds: float, under_s: float) -> dict[str, Any]:
    """A night's KPIs as the engine gives them, with only what the totals read."""
    return {
        "date": day,
        "night": {"dark_hours": 10.0},
        "energy_kwh": kwh,
        "baseline_full_kwh": 2 * kwh,
        "baseline_schedule_kwh": 1.5 * kwh,
        "baseline_reference_kwh": kwh,
        "safety": {
            "road_users": 10,
            "road_user_seconds": seconds,
            "underlit_s": under_s,
            "detected_seconds": seconds,
            "detected_underlit_s": 0.0,
            "underlit_road_users": 1 if under_s else 0,
            "worst_shortfall": 0.1,
            "detected": 10,
            "never_met_after_detection": 0,
            "per_road": {
                "road": {"road_user_seconds": seconds, "underlit_share": under_s / seconds}
            },
        },
        "failsafe": {"cluster_hours": 0.5, "lamp_node_hours_without_lease": 0.0},
    }


def test_a_year_is_365_nights_from_its_first_whatever_the_calendar() -> None:
    nights = year_dates(date(2028, 1, 1))  # a leap year: 365 nights end before its last day
    assert len(nights) == 365
    assert nights[-1] == date(2028, 12, 30)
    every = year_dates(date(2026, 1, 1), 8)
    assert len(every) == 46
    assert every[1] == date(2026, 1, 9)
    assert every[-1] == date(2026, 12, 27)


def test_months_sum_their_nights_and_weigh_shares_by_time() -> None:
    site = small_site()
    nights = [
        _night("2026-01-30", 10.0, 1000.0, 100.0),
        _night("2026-01-31", 30.0, 3000.0, 0.0),
        _night("2026-02-01", 20.0, 500.0, 50.0),
    ]
    waits = [np.array([0.0, 1.0]), np.array([3.0]), np.array([9.0, 9.0])]
    months = monthly_kpis(site, nights, waits)
    assert [m["month"] for m in months] == ["2026-01", "2026-02"]
    jan, feb = months
    assert jan["nights"] == 2
    assert jan["dark_hours"] == 20.0
    assert jan["energy_kwh"] == 40.0
    assert jan["cost"] == round(40.0 * site.energy.price_per_kwh, 2)
    assert jan["saved_vs_full"]["pct"] == 50.0
    assert jan["saved_vs_reference"]["kwh"] == 0.0
    # 100 of 4000 road-user-seconds, not the mean of the nights' shares (5 %)
    assert jan["safety"]["underlit_share"] == 0.025
    assert jan["safety"]["per_road"]["road"]["underlit_share"] == 0.025
    assert jan["safety"]["detection_to_requirement_p50_s"] == 1.0  # of January's waits only
    assert jan["safety"]["counted_while_underlit"] == 2
    assert jan["failsafe"]["cluster_hours"] == 1.0
    assert feb["nights"] == 1
    assert feb["safety"]["underlit_share"] == 0.1
    assert feb["safety"]["detection_to_requirement_p99_s"] == 9.0
    total = total_kpis(site, nights, waits)
    assert total["energy_kwh"] == sum(m["energy_kwh"] for m in months)
    assert total["safety"]["underlit_share"] == round(150.0 / 4500.0, 6)


def test_the_year_scales_only_when_it_skipped_nights() -> None:
    site = small_site()
    nights = [_night("2026-01-01", 10.0, 100.0, 0.0), _night("2026-07-02", 20.0, 100.0, 0.0)]
    total = total_kpis(site, nights, [np.zeros(0), np.zeros(0)])
    whole = annual_kpis(site, total, first=date(2026, 1, 1), every=1)
    assert (whole["from"], whole["to"]) == ("2026-01-01", "2026-12-31")
    assert whole["scaled_by"] == 1.0
    assert whole["energy_kwh"] == 30.0
    assert whole["saved_vs_full"]["kwh"] == 30.0
    estimate = annual_kpis(site, total, first=date(2026, 1, 1), every=182)
    assert estimate["scaled_by"] == 182.5
    assert estimate["energy_kwh"] == 30.0 * 182.5
    assert estimate["cost"] == round(30.0 * 182.5 * site.energy.price_per_kwh, 2)


def test_nights_in_worker_processes_give_what_each_night_alone_gives() -> None:
    site, scenario, span = small_site(), Scenario(), 1800.0
    days = [date(2026, 1, 15), date(2026, 2, 15)]
    out = simulate_nights(site, scenario=scenario, days=days, seed=5, jobs=2, every=1,
                          span_s=span)  # fmt: skip
    alone = [simulate(site, scenario=scenario, day=d, seed=5, span_s=span).kpis for d in days]
    for k in [*out["nights"], *alone]:
        k.pop("wall_s")
    assert out["nights"] == alone
    assert alone[0] != alone[1]
    assert [m["month"] for m in out["months"]] == ["2026-01", "2026-02"]
    assert out["months"][0]["energy_kwh"] == alone[0]["energy_kwh"]
    assert out["total"]["safety"]["road_users"] == sum(k["safety"]["road_users"] for k in alone)
    kwh = sum(k["energy_kwh"] for k in alone)
    assert out["annual"]["energy_kwh"] == pytest.approx(kwh, abs=0.05)  # rounded to 0.1


def test_nights_side_by_side_give_what_each_night_alone_gives() -> None:
    """One controller for three nights (winter, spring, a summer Saturday), a dead sensor
    and a failed lamp in each: every night's figures are the ones it has alone."""
    site = load_config(EXAMPLE)
    scenario = Scenario(faults=[Fault(kind="sensor_dead", sensor="res-radar-south"),
                                Fault(kind="lamp_failure", lamp="res-003")])  # fmt: skip
    days, span = [date(2026, 1, 14), date(2026, 4, 2), date(2026, 7, 4)], 1500.0
    both = simulate_side_by_side(site, scenario=scenario, days=days, seed=9, span_s=span)
    for (kpis, waits), day in zip(both, days, strict=True):
        alone = simulate(site, scenario=scenario, day=day, seed=9, span_s=span)
        kpis.pop("wall_s")
        alone.kpis.pop("wall_s")
        assert kpis == alone.kpis
        np.testing.assert_array_equal(waits, alone.latencies)
    assert both[0][0]["safety"]["road_users"] > 0
    assert len({k["energy_kwh"] for k, _ in both}) == 3
