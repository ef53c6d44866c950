#!/usr/bin/env python3
"""Simulator speed: a whole night of the example site, and of a generated 10,000-lamp site.

    .venv/bin/python scripts/bench_sim.py [--big 10000] [--write]

Both at 1 s ticks through the real control core, on the spring-equinox night (about 12 h
dark; the run covers sunset - 15 min to sunrise + 15 min).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge.config import load_config, parse_config  # noqa: E402
from scripts._benchdoc import machine_line, replace_section  # noqa: E402
from simulator.engine import simulate  # noqa: E402
from simulator.scenario import Scenario  # noqa: E402
from simulator.sites import generate_site  # noqa: E402

NIGHT = date(2026, 3, 20)


def run(site, label: str) -> dict[str, float | str]:  # type: ignore[no-untyped-def]
    began, cpu = time.perf_counter(), time.process_time()
    k = simulate(site, scenario=Scenario(), day=NIGHT, seed=1).kpis
    wall, cpu_s = time.perf_counter() - began, time.process_time() - cpu
    hours = k["ticks"] * k["tick_s"] / 3600
    return {
        "label": label, "lamps": k["lamps"], "hours": hours, "ticks": k["ticks"], "wall": wall,
        "cpu": cpu_s, "per_tick_us": wall / k["ticks"] * 1e6, "nights_per_s": 1 / wall,
        "twelve_h_s": wall * 12 / hours, "users": k["safety"]["road_users"],
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--big", type=int, default=10_000)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    rows = [run(load_config(REPO / "config" / "site.example.yaml"), "example site")]
    print(rows[-1], file=sys.stderr)
    rows.append(run(parse_config(generate_site(lamps=args.big)), f"generated, {args.big:,} lamps"))
    table = [
        "| site | lamps | simulated hours | ticks | road users | wall (s) | CPU (s) "
        "| per tick (us) "
        "| a 12-hour night (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        table.append(
            f"| {r['label']} | {r['lamps']:,} | {r['hours']:.1f} | {r['ticks']:,} | {r['users']:,} "
            f"| {r['wall']:.1f} | {r['cpu']:.1f} | {r['per_tick_us']:.0f} | {r['twelve_h_s']:.1f} |"
        )
    body = (
        f"{machine_line()}\n\nCommand: `.venv/bin/python scripts/bench_sim.py --write` "
        f"(night of {NIGHT}, 1 s ticks, default traffic, seed 1)\n\n" + "\n".join(table) + "\n\n"
        "Targets: a 12-hour night of the example site in under 10 s; 10,000 lamps in "
        "under 60 s. The last column scales the measured run to exactly 12 hours.\n"
    )
    print(body)
    if args.write:
        replace_section(REPO / "docs" / "benchmarks.md", "simulator", "Simulator", body)


if __name__ == "__main__":
    main()
