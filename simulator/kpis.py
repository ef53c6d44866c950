"""The night's KPIs: energy against both baselines, CO2 and cost, and safety per road user."""

from __future__ import annotations

import time as wallclock
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from edge.config import SiteConfig
from edge.control import DimmingController
from simulator.scenario import Scenario
from simulator.street import LampNodes

if TYPE_CHECKING:
    from simulator.engine import NightWindow

__all__ = ["night_kpis"]


def night_kpis(
    site: SiteConfig,
    ctrl: DimmingController,
    nodes: LampNodes,
    window: NightWindow,
    n_ticks: int,
    tick: float,
    night_s: np.ndarray,
    below_s: np.ndarray,
    detect_t: np.ndarray,
    lit_t: np.ndarray,
    failsafe_cluster_s: float,
    night_total_s: float,
    seed: int,
    scenario: Scenario,
    began: float,
    day: date,
) -> dict[str, Any]:
    e = site.energy
    kwh = nodes.energy_wh / 1000.0
    full = float(ctrl.baseline_full_wh.sum()) / 1000.0
    sched = float(ctrl.baseline_schedule_wh.sum()) / 1000.0

    def saved(base: float) -> dict[str, float]:
        diff = base - kwh
        return {
            "kwh": round(diff, 3),
            "pct": round(100.0 * diff / base, 2) if base > 0 else 0.0,
            "co2_kg": round(diff * e.co2_kg_per_kwh, 3),
            "cost": round(diff * e.price_per_kwh, 2),
        }

    seen = night_s > 0
    user_s = float(night_s.sum())
    share = float(below_s.sum() / user_s) if user_s > 0 else 0.0
    seen_idx = seen.nonzero()[0]
    worst = int(seen_idx[np.argmax(below_s[seen_idx])]) if len(seen_idx) else -1
    latency = lit_t - np.where(np.isinf(detect_t), np.nan, detect_t)
    latency = latency[~np.isnan(latency)]
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
        "energy_kwh": round(kwh, 3),
        "baseline_full_kwh": round(full, 3),
        "baseline_schedule_kwh": round(sched, 3),
        "saved_vs_full": saved(full),
        "saved_vs_schedule": saved(sched),
        "currency": e.currency,
        "safety": {
            "road_users": int(seen.sum()),
            "road_user_seconds": round(user_s, 1),
            "below_presence_share": round(share, 5),
            "worst_road_user_below_s": round(float(below_s[worst]), 1) if worst >= 0 else 0.0,
            "worst_road_user_share": round(float(below_s[worst] / night_s[worst]), 4)
            if worst >= 0
            else 0.0,
            "detected": len(latency),
            "detection_to_presence_p50_s": round(float(np.percentile(latency, 50)), 2)
            if len(latency)
            else None,
            "detection_to_presence_p99_s": round(float(np.percentile(latency, 99)), 2)
            if len(latency)
            else None,
        },
        "failsafe": {
            "cluster_hours": round(failsafe_cluster_s / 3600.0, 3),
            "lamp_node_hours_without_lease": round(nodes.failsafe_lamp_s / 3600.0, 3),
        },
        "wall_s": round(wallclock.perf_counter() - began, 2),
    }
