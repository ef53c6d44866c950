#!/usr/bin/env python3
"""Simulator speed: a whole night of the example site and of a generated 10,000-lamp site,
and with --year the example site's year as `streetlight sim --year` runs it (minutes).

    .venv/bin/python scripts/bench_sim.py [--big 10000] [--year] [--write] [--json FILE]

The nights at 1 s ticks through the real control core, on the spring-equinox night (about
12 h dark; the run covers sunset - 15 min to sunrise + 15 min), with the time the control
core's step took of it; the year is the 365 nights from 1 January, side by side, one worker
process per core.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge.config import SiteConfig, load_config, parse_config  # noqa: E402
from edge.control import DimmingController  # noqa: E402
from edge.site import CoreSite  # noqa: E402
from scripts._benchdoc import machine_line, replace_section  # noqa: E402
from simulator.engine import simulate  # noqa: E402
from simulator.scenario import Scenario  # noqa: E402
from simulator.sites import generate_site  # noqa: E402

NIGHT = date(2026, 3, 20)
YEAR_FROM = date(2026, 1, 1)
YEAR_NIGHTS = 365


def run(site: SiteConfig, label: str) -> dict[str, Any]:
    stepping = [0.0]

    def timed(site: SiteConfig, start: float) -> DimmingController:
        ctrl = CoreSite.of(site).controller(start=start)
        step = ctrl.step

        def counted(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return step(*args, **kwargs)
            finally:
                stepping[0] += time.perf_counter() - began

        ctrl.step = counted  # type: ignore[method-assign]
        return ctrl

    began, cpu = time.perf_counter(), time.process_time()
    k = simulate(site, scenario=Scenario(), day=NIGHT, seed=1, controller=timed).kpis
    wall, cpu_s = time.perf_counter() - began, time.process_time() - cpu
    hours = k["ticks"] * k["tick_s"] / 3600
    return {
        "label": label, "lamps": k["lamps"], "hours": hours, "ticks": k["ticks"], "wall": wall,
        "cpu": cpu_s, "step": stepping[0], "per_tick_us": wall / k["ticks"] * 1e6,
        "twelve_h_s": wall * 12 / hours, "users": k["safety"]["road_users"],
    }  # fmt: skip


def year() -> dict[str, Any]:
    """`streetlight sim --year --date 2026-01-01` on the example site, as a user runs it (its
    table goes to stderr)."""
    exe = Path(sys.executable).with_name("streetlight")
    cmd = [str(exe), "sim", "--year", "--date", YEAR_FROM.isoformat()]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(done.stdout, file=sys.stderr)
    workers = os.cpu_count() or 1
    return {
        "wall": wall,
        "cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        "workers": workers,
        "night_s": wall * workers / YEAR_NIGHTS,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--big", type=int, default=10_000)
    ap.add_argument("--year", action="store_true", help="also the example site's year")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args()
    rows = [run(load_config(REPO / "config" / "site.example.yaml"), "example site")]
    print(rows[-1], file=sys.stderr)
    rows.append(run(parse_config(generate_site(lamps=args.big)), f"generated, {args.big:,} lamps"))
    print(rows[-1], file=sys.stderr)
    table = [
        "| site | lamps | simulated hours | ticks | road users | wall (s) | CPU (s) "
        "| of it the control core's step (s) | per tick (us) | a 12-hour night (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        share = 100 * r["step"] / r["wall"]
        table.append(
            f"| {r['label']} | {r['lamps']:,} | {r['hours']:.1f} | {r['ticks']:,} | {r['users']:,} "
            f"| {r['wall']:.1f} | {r['cpu']:.1f} | {r['step']:.1f} ({share:.0f} %) "
            f"| {r['per_tick_us']:.0f} | {r['twelve_h_s']:.1f} |"
        )
    command = "scripts/bench_sim.py --year --write" if args.year else "scripts/bench_sim.py --write"
    body = (
        f"{machine_line()}\n\nCommand: `.venv/bin/python {command}` "
        f"(night of {NIGHT}, 1 s ticks, default traffic, seed 1)\n\n" + "\n".join(table) + "\n\n"
    )
    y: dict[str, Any] | None = None
    if args.year:
        y = year()
        print(y, file=sys.stderr)
        body += (
            f"The example site's year, `streetlight sim --year --date {YEAR_FROM}` "
            f"({YEAR_NIGHTS} nights side by side in {y['workers']} worker processes, the "
            f"nights dealt out in turn): {y['wall'] / 60:.1f} min wall, "
            f"{y['cpu'] / 60:.1f} min CPU, {y['night_s']:.2f} s of a worker's time a night."
            "\n\n"
        )
    body += (
        "Targets: the example site's year in 3 minutes; a 12-hour night of the example site in "
        "under 10 s; 10,000 lamps in under 30 s. The last column scales the measured run to "
        "exactly 12 hours.\n"
    )
    print(body)
    if args.json is not None:  # for scripts/bench's summary: 12-hour nights and the year, in s
        figures = {
            "night_s": rows[0]["twelve_h_s"],
            "big_night_s": rows[1]["twelve_h_s"],
            "year_s": y["wall"] if y is not None else None,
            "rows": rows,
            "year": y,
        }
        args.json.write_text(json.dumps(figures, indent=2))
    if args.write:
        replace_section(REPO / "docs" / "benchmarks.md", "simulator", "Simulator", body)


if __name__ == "__main__":
    main()
