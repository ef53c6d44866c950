"""The night's KPIs: energy against the three baselines, CO2 and cost, and safety against the
fixed requirement (``simulator.requirement``)."""

from __future__ import annotations

import time as wallclock
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from edge.config import SiteConfig
from edge.control import DimmingController
from simulator.scenario import Scenario
from simulator.street import LampNodes

if TYPE_CHECKING:
    from simulator.engine import NightWindow

__all__ = ["energy_kpis", "night_kpis", "saved"]


def saved(site: SiteConfig, kwh: float, base: float) -> dict[str, float]:
    """What using ``kwh`` instead of ``base`` saves: kWh, %, kg CO2 and cost."""
    e = site.energy
    diff = base - kwh
    return {
        "kwh": round(diff, 3),
        "pct": round(100.0 * diff / base, 2) if base > 0 else 0.0,
        "co2_kg": round(diff * e.co2_kg_per_kwh, 3),
        "cost": round(diff * e.price_per_kwh, 2),
    }


def energy_kpis(
    site: SiteConfig, kwh: float, full: float, sched: float, ref: float
) -> dict[str, Any]:
    """Energy used, the three baselines, and what was saved against each (kWh)."""
    return {
        "energy_kwh": round(kwh, 3),
        "baseline_full_kwh": round(full, 3),
        "baseline_schedule_kwh": round(sched, 3),
        "baseline_reference_kwh": round(ref, 3),
        "saved_vs_full": saved(site, kwh, full),
        "saved_vs_schedule": saved(site, kwh, sched),
        "saved_vs_reference": saved(site, kwh, ref),
        "currency": site.energy.currency,
    }


def night_kpis(
    site: SiteConfig,
    ctrl: DimmingController,
    nodes: LampNodes,
    window: NightWindow,
    *,
    n_ticks: int,
    tick: float,
    safety: dict[str, Any],
    failsafe_cluster_s: float,
    night_total_s: float,
    seed: int,
    scenario: Scenario,
    began: float,
    day: date,
) -> dict[str, Any]:
    kwh = nodes.energy_wh / 1000.0
    full = float(ctrl.baseline_full_wh.sum()) / 1000.0
    sched = float(ctrl.baseline_schedule_wh.sum()) / 1000.0
    ref = float(ctrl.baseline_reference_wh.sum()) / 1000.0
    tz = ZoneInfo(site.site.timezone)
    return {
        "site": site.gateway_id,
        "scenario": scenario.name,
        "date": day.isoformat(),
        "seed": seed,
        "night": {
            "start": datetime.fromtimestamp(window.start, tz).isoformat(timespec="minutes"),
            "end": datetime.fromtimestamp(window.end, tz).isoformat(timespec="minutes"),
            "dark_hours": round(night_total_s / 3600.0, 2),
        },
        "ticks": n_ticks,
        "tick_s": tick,
        "lamps": len(ctrl.site.lamps),
        **energy_kpis(site, kwh, full, sched, ref),
        "safety": safety,
        "failsafe": {
            "cluster_hours": round(failsafe_cluster_s / 3600.0, 3),
            "lamp_node_hours_without_lease": round(nodes.failsafe_lamp_s / 3600.0, 3),
        },
        "wall_s": round(wallclock.perf_counter() - began, 2),
    }
