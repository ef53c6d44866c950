"""Several nights of a site (a list of dates, or the 365 nights of a year): each night's
KPIs and their total, and for a year the months and the annual energy and cost an energy
manager budgets."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from queue import Empty
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.config import SiteConfig
from simulator.engine import simulate_side_by_side
from simulator.heap import keep_freed_memory
from simulator.kpis import energy_kpis, saved
from simulator.requirement import percentiles
from simulator.scenario import Scenario

__all__ = ["YEAR_DAYS", "annual_kpis", "monthly_kpis", "simulate_nights", "total_kpis",
           "year_dates"]  # fmt: skip

FloatArray = npt.NDArray[np.float64]

YEAR_DAYS = 365  # a year of nights, from any first night


def year_dates(first: date, every: int = 1) -> list[date]:
    """The nights of the 365 days from ``first``: all of them, or every ``every``-th (a step
    of 7, or any multiple, would be the same weekday all year)."""
    return [first + timedelta(days=d) for d in range(0, YEAR_DAYS, every)]


def simulate_nights(
    site: SiteConfig,
    *,
    scenario: Scenario,
    days: list[date],
    seed: int,
    presence: bool = True,
    jobs: int | None = None,
    every: int | None = None,
    progress: Callable[[float], None] | None = None,
    span_s: float | None = None,
) -> dict[str, Any]:
    """Each night of ``days`` (same seed; with ``span_s`` its first seconds only), then the
    total; with ``every`` (``days`` is a year, every ``every``-th night of it), the months
    and the year's figures. The nights run side by side (``simulate_side_by_side``) in
    ``jobs`` processes (default one per core), each taking every ``jobs``-th night, so each
    spans the seasons and they end together; ``progress`` takes the share done."""
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(days)))
    groups = [days[j::jobs] for j in range(jobs)]
    work = [(site, scenario, group, seed, presence, span_s) for group in groups]
    done = [_group(work[0], progress)] if jobs == 1 else _in_processes(work, progress)
    where = [i for j in range(jobs) for i in range(j, len(days), jobs)]  # each's night
    flat = [night for group in done for night in group]
    results = [night for _, night in sorted(zip(where, flat, strict=True), key=lambda p: p[0])]
    nights = [k for k, _ in results]
    latencies = [lat for _, lat in results]
    total = total_kpis(site, nights, latencies)
    out: dict[str, Any] = {"nights": nights}
    if every is not None:
        out["months"] = monthly_kpis(site, nights, latencies)
    out["total"] = total
    if every is not None:
        out["annual"] = annual_kpis(site, total, first=days[0], every=every)
    return out


_Work = tuple[SiteConfig, Scenario, list[date], int, bool, float | None]
_Nights = list[tuple[dict[str, Any], FloatArray]]
_shares: Any = None  # a worker's queue for its share done


def _group(work: _Work, progress: Callable[[float], None] | None = None) -> _Nights:
    site, scenario, days, seed, presence, span_s = work
    return simulate_side_by_side(site, scenario=scenario, days=days, seed=seed,
                                 presence=presence, span_s=span_s, progress=progress)  # fmt: skip


def _in_worker(j: int, work: _Work) -> _Nights:
    queue = _shares
    return _group(work, None if queue is None else lambda share: queue.put((j, share)))


def _worker_start(queue: Any) -> None:
    global _shares
    _shares = queue
    keep_freed_memory()


def _in_processes(work: list[_Work], progress: Callable[[float], None] | None) -> list[_Nights]:
    """Each group of nights in a process of its own; the share done is the groups' mean."""
    context = multiprocessing.get_context()
    queue = context.Queue()
    shares = [0.0] * len(work)
    with ProcessPoolExecutor(max_workers=len(work), mp_context=context,
                             initializer=_worker_start, initargs=(queue,)) as pool:  # fmt: skip
        futures = [pool.submit(_in_worker, j, w) for j, w in enumerate(work)]
        while not all(f.done() for f in futures):
            try:
                j, share = queue.get(timeout=0.2)
            except Empty:
                continue
            shares[j] = share
            if progress is not None:
                progress(sum(shares) / len(shares))
        return [f.result() for f in futures]


def monthly_kpis(
    site: SiteConfig, nights: list[dict[str, Any]], latencies: list[FloatArray]
) -> list[dict[str, Any]]:
    """The nights by the month they start in (``month``: YYYY-MM), in the order they came,
    each month's figures as ``total_kpis`` gives them."""
    months: dict[str, tuple[list[dict[str, Any]], list[FloatArray]]] = {}
    for k, lat in zip(nights, latencies, strict=True):
        group = months.setdefault(k["date"][:7], ([], []))
        group[0].append(k)
        group[1].append(lat)
    return [{"month": m, **total_kpis(site, ks, lats)} for m, (ks, lats) in months.items()]


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

    e = site.energy
    return {
        "nights": len(nights),
        "dark_hours": round(sum(k["night"]["dark_hours"] for k in nights), 2),
        **energy_kpis(site, kwh, full, sched, ref),
        "cost": round(kwh * e.price_per_kwh, 2),
        "co2_kg": round(kwh * e.co2_kg_per_kwh, 1),
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
        "failsafe": {
            key: round(sum(k["failsafe"][key] for k in nights), 3)
            for key in ("cluster_hours", "lamp_node_hours_without_lease")
        },
    }


def annual_kpis(
    site: SiteConfig, total: dict[str, Any], *, first: date, every: int
) -> dict[str, Any]:
    """The year from ``first``: the total of its nights, or with ``every`` > 1 the estimate
    from every ``every``-th night, each standing for 365 / nights simulated."""
    n = int(total["nights"])
    scale = YEAR_DAYS / max(n, 1) if every > 1 else 1.0
    e = site.energy
    kwh = total["energy_kwh"] * scale
    out: dict[str, Any] = {
        "from": first.isoformat(),
        "to": (first + timedelta(days=YEAR_DAYS - 1)).isoformat(),
        "nights_simulated": n,
        "every": every,
        "scaled_by": round(scale, 4),
        "energy_kwh": round(kwh, 1),
        "cost": round(kwh * e.price_per_kwh, 2),
        "co2_kg": round(kwh * e.co2_kg_per_kwh, 1),
    }
    for b in ("full", "schedule", "reference"):
        base = total[f"baseline_{b}_kwh"] * scale
        out[f"baseline_{b}_kwh"] = round(base, 1)
        out[f"saved_vs_{b}"] = saved(site, kwh, base)
    out["currency"] = e.currency
    return out
