"""Energy KPIs: energy used against the three baselines, and what was saved in kWh, %, CO2
and cost. A night's safety KPIs come from ``simulator.requirement``."""

from __future__ import annotations

from typing import Any

from edge.config import SiteConfig

__all__ = ["energy_kpis", "saved"]


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
