"""Several nights of a site (a list of dates, or every n-th night of a year): each night's
KPIs and their total, and for a year the annual energy and cost an energy manager budgets."""

from __future__ import annotations

import calendar
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.config import SiteConfig
from simulator.engine import simulate
from simulator.kpis import energy_kpis, saved
from simulator.requirement import percentiles
from simulator.scenario import Scenario

__all__ = ["night_dates", "simulate_nights", "total_kpis"]

FloatArray = npt.NDArray[np.float64]


def night_dates(year: int, every: int) -> list[date]:
    """Every ``every``-th night of ``year``, from 1 January (a step of 7, or any multiple,
    would be the same weekday all year)."""
    first = date(year, 1, 1)
    days = 366 if calendar.isleap(year) else 365
    return [first + timedelta(days=d) for d in range(0, days, every)]


def _one(
    args: tuple[SiteConfig, Scenario, date, int, bool],
) -> tuple[dict[str, Any], FloatArray]:
    site, scenario, day, seed, presence = args
    result = simulate(site, scenario=scenario, day=day, seed=seed, presence=presence)
    return result.kpis, result.latencies


def simulate_nights(
    site: SiteConfig,
    *,
    scenario: Scenario,
    days: list[date],
    seed: int,
    presence: bool = True,
    jobs: int | None = None,
    year: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Each night of ``days`` (same seed; in ``jobs`` processes, default one per core), then
    the total; with ``year``, the annual estimate from the nights simulated."""
    work = [(site, scenario, day, seed, presence) for day in days]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(work)))
    results: list[tuple[dict[str, Any], FloatArray]] = []
    if jobs == 1:
        for item in work:
            results.append(_one(item))
            if progress is not None:
                progress(len(results))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for done in pool.map(_one, work):
                results.append(done)
                if progress is not None:
                    progress(len(results))
    nights = [k for k, _ in results]
    total = total_kpis(site, nights, [lat for _, lat in results])
    out: dict[str, Any] = {"nights": nights, "total": total}
    if year is not None:
        out["annual"] = annual_estimate(site, total, year, len(nights))
    return out


def total_kpis(
    site: SiteConfig, nights: list[dict[str, Any]], latencies: list[FloatArray]
) -> dict[str, Any]:
    """The nights together: energy summed, safety shares over all road-user-seconds."""

    def total(key: str) -> float:
        return float(sum(k[key] for k in nights))

    def safety(key: str) -> float:
        return float(sum(k["safety"][key] for k in nights))

    kwh = total("energy_kwh")
    full, sched, ref = (total(f"baseline_{b}_kwh") for b in ("full", "schedule", "reference"))
    seconds, detected = safety("road_user_seconds"), safety("detected_seconds")
    lat = np.concatenate(latencies) if latencies else np.zeros(0)
    roads: dict[str, dict[str, float]] = {}
    for k in nights:
        for road, r in k["safety"]["per_road"].items():
            acc = roads.setdefault(road, {"road_user_seconds": 0.0, "underlit_s": 0.0})
            acc["road_user_seconds"] += r["road_user_seconds"]
            acc["underlit_s"] += r["underlit_share"] * r["road_user_seconds"]

    def share(part: float, whole: float) -> float:
        return round(part / whole, 6) if whole > 0 else 0.0

    return {
        "nights": len(nights),
        "dark_hours": round(sum(k["night"]["dark_hours"] for k in nights), 2),
        **energy_kpis(site, kwh, full, sched, ref),
        "safety": {
            "road_users": int(safety("road_users")),
            "road_user_seconds": round(seconds, 1),
            "underlit_share": share(safety("underlit_s"), seconds),
            "underlit_road_users": int(safety("underlit_road_users")),
            "worst_shortfall": max((k["safety"]["worst_shortfall"] for k in nights), default=0.0),
            "detected": int(safety("detected")),
            "detected_underlit_share": share(safety("detected_underlit_s"), detected),
            **percentiles(lat),
            "never_met_after_detection": int(safety("never_met_after_detection")),
            "counted_while_underlit": len(lat[lat > 0]),
            **{f"{k}_if_underlit": v for k, v in percentiles(lat[lat > 0]).items()},
            "per_road": {
                road: {
                    "road_user_seconds": round(r["road_user_seconds"], 1),
                    "underlit_share": share(r["underlit_s"], r["road_user_seconds"]),
                }
                for road, r in roads.items()
            },
        },
    }


def annual_estimate(site: SiteConfig, total: dict[str, Any], year: int, n: int) -> dict[str, Any]:
    """The year from ``n`` evenly spread nights: each stands for days-in-year / n nights."""
    scale = (366 if calendar.isleap(year) else 365) / max(n, 1)
    e = site.energy
    kwh = total["energy_kwh"] * scale
    out: dict[str, Any] = {"year": year, "nights_simulated": n, "energy_kwh": round(kwh, 1)}
    out["cost"] = round(kwh * e.price_per_kwh, 2)
    out["co2_kg"] = round(kwh * e.co2_kg_per_kwh, 1)
    for b in ("full", "schedule", "reference"):
        base = total[f"baseline_{b}_kwh"] * scale
        out[f"baseline_{b}_kwh"] = round(base, 1)
        out[f"saved_vs_{b}"] = saved(site, kwh, base)
    out["currency"] = e.currency
    return out
