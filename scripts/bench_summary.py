#!/usr/bin/env python3
"""One table of the figures that matter, each against its target, from the JSON the bench
scripts of one `scripts/bench` run wrote to DIR.

    .venv/bin/python scripts/bench_summary.py DIR [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts._benchdoc import machine_line, replace_section  # noqa: E402


def _load(d: Path, name: str) -> Any:
    path = d / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def rows(d: Path) -> list[tuple[str, str, str, str]]:
    """(what, measured, target, met)."""
    out: list[tuple[str, str, str, str]] = []
    daemon, ctrl, sim = _load(d, "daemon"), _load(d, "controller"), _load(d, "sim")
    if daemon is not None:
        for i in daemon["ingest"]:
            out.append((
                f"ingest / bare aiomqtt subscriber, {i['mix']} (alone, in turn): median of "
                f"{i['runs']} runs (min-max)",
                f"{i['ratio_median']:.2f} ({i['ratio_min']:.2f}-{i['ratio_max']:.2f})", ">= 0.9",
                _yes(i["ratio_median"] >= 0.9),
            ))  # fmt: skip
        for lat in daemon["latency"]:
            target = {1000: 50.0, 5000: 100.0}.get(lat["rate"])
            if target is None:
                continue
            out.append((
                f"count -> lease on the wire, {lat['rate']:,} counts/s: p50 / p99",
                f"{lat['p50_ms']:.0f} / {lat['p99_ms']:.0f} ms ({lat['missed']} missed)",
                f"p99 <= {target:.0f} ms", _yes(lat["p99_ms"] <= target and not lat["missed"]),
            ))  # fmt: skip
        for t in daemon["ticks"]:
            out.append((
                f"{t['lamps']:,}-lamp tick, leases by {t['lease_topic']}: p50 / p99, late",
                f"<= {t['tick_p50_ms']:.0f} / <= {t['tick_p99_ms']:.0f} ms, {t['late']:,} late",
                "p99 <= 250 ms, 0 late", _yes(t["tick_p99_ms"] <= 250 and t["late"] == 0),
            ))  # fmt: skip
        targets = {1000: 60.0, 100_000: 150.0}
        for m in daemon["memory"]:
            target = targets.get(m["lamps"])
            out.append((
                f"daemon peak RSS, {m['lamps']:,} lamps, leases by {m['lease_topic']}",
                f"{m['peak_rss_mb']:.0f} MB",
                f"<= {target:.0f} MB" if target else "-",
                _yes(m["peak_rss_mb"] <= target) if target else "-",
            ))  # fmt: skip
        c = daemon["cli"]
        for name, key in (("streetlight --help", "help_s"), ("streetlight status", "status_s")):
            out.append((f"`{name}`, whole process, median", f"{c[key]:.2f} s", "<= 0.3 s",
                        _yes(c[key] <= 0.3)))  # fmt: skip
    if ctrl is not None:
        for r in ctrl:
            if int(r["n"]) == 100_000:
                ratio = r["floor_ratio"]
                out.append(("control step, 100,000 lamps / memory-streaming floor",
                            f"{ratio:.1f}x", "<= 3x", _yes(ratio <= 3)))  # fmt: skip
    if sim is not None:
        big = sim["rows"][1]["lamps"] if len(sim.get("rows", [])) > 1 else 10_000
        for key, what, target in (
            ("night_s", "simulator: one 12-hour night, example site", 10.0),
            ("year_s", "simulator: a year of nights, example site", 180.0),
            ("big_night_s", f"simulator: one 12-hour night, {big:,} lamps", 30.0),
        ):
            if sim.get(key) is None:
                continue
            out.append((what, f"{sim[key]:.0f} s", f"<= {target:.0f} s" if target else "-",
                        _yes(sim[key] <= target) if target else "-"))  # fmt: skip
    return out


def table(d: Path, source: str) -> str:
    lines = [machine_line(), "", source, "",
             "| | measured | target | met |", "|---|---:|---:|:---:|"]  # fmt: skip
    lines += [f"| {w} | {m} | {t} | {ok} |" for w, m, t, ok in rows(d)]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    ap.add_argument(
        "--source",
        default="Command: `scripts/bench` (every figure from the same run).",
        help="where the figures come from, when not one scripts/bench run",
    )
    a = ap.parse_args()
    text = table(a.dir, a.source)
    print(text)
    if a.write:
        replace_section(REPO / "docs" / "benchmarks.md", "summary", "Summary", text)


if __name__ == "__main__":
    main()
