#!/usr/bin/env python3
"""The policy's energy and safety on the example site, beside the reference schedule and an
earlier policy, on the evaluation nights (or the tuning ones): the tables in docs/policy.md.

    .venv/bin/python scripts/policy_table.py [--set eval|weekend|tune] [--old REV] [--write]

Each night of the set, with the example site and the default (realistic) simulated street:
- policy: the control core and example config of this tree, realistic sensors;
- ideal sensors: the same, with sensors that never miss, measure exactly and report at once;
- reference schedule: a clock (100 % to 20:00, 70 % to 22:00, 50 % to 05:00, then 70 %) run
  through the same lamp nodes: the example site with no adaptive classes, no presence, and
  the schedule as Set profiles;
- old policy (--old REV, default the last commit before policy v2): that revision's control
  core (loaded from git as a package of its own) with its example config's controller
  settings and class ladders, this site's profiles (the school run), on the same street. It
  has no notion of a count without a direction: a PIR's counts are given to it both ways,
  which also doubles the flow it measures at PIRs (its P roads stay brighter for it). Its
  example's park curfew profile is left out (the new example declares none either).
Safety is scored against the fixed requirement (docs/policy.md) for all of them.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge.config import SiteConfig, example_config_path, parse_config  # noqa: E402
from edge.control import REFERENCE_SCHEDULE, CountsBatch, schedule_level  # noqa: E402
from edge.site import CoreSite  # noqa: E402
from scripts._benchdoc import machine_line  # noqa: E402
from simulator.engine import simulate  # noqa: E402
from simulator.scenario import Scenario, bundled_scenarios, load_scenario  # noqa: E402

OLD_REV = "35207bb"  # the last commit before policy v2
SETS: dict[str, tuple[list[date], list[int], str | None]] = {
    # evaluated, never tuned on: a winter, an equinox and a summer weekday night
    "eval": ([date(2027, 1, 13), date(2027, 3, 22), date(2027, 6, 23)], [7], None),
    # run once, after every change to the policy: fresh dates and seed
    "holdout": ([date(2027, 12, 8), date(2027, 9, 22), date(2028, 6, 21)], [11], None),
    # the weekend nights of the policy issue's example
    "weekend": ([date(2027, 1, 10), date(2027, 4, 10), date(2027, 7, 10)], [7], None),
    # the evaluation nights with a busy arterial (1.6x): its flow reaches the rated class
    "busy": ([date(2027, 1, 13), date(2027, 3, 22), date(2027, 6, 23)], [7], "arterial"),
    # what the thresholds and sensor layout were tuned on
    "tune": (
        [date(2026, 12, 9), date(2026, 9, 23), date(2026, 6, 17), date(2026, 2, 7)],
        [1, 2],
        None,
    ),
}
POLICIES = ("policy", "ideal sensors", "reference schedule", "old policy")


def example() -> dict[str, Any]:
    doc = yaml.safe_load(example_config_path().read_text())
    assert isinstance(doc, dict)
    return doc


def clock_site() -> SiteConfig:
    """The example site run by the reference schedule: rated class, no presence, the
    schedule's levels as Set profiles."""
    doc = example()
    for c in doc["clusters"]:
        c["adapt_classes"] = []
    doc["controller"]["presence"] = {"enabled": False}
    steps = sorted(REFERENCE_SCHEDULE)
    ends = [s for s, _ in steps[1:]] + [steps[0][0]]
    doc["profiles"] = [
        {"id": f"reference-{i}", "target": "all", "op": "set", "level": level,
         "start": f"{start // 60:02d}:{start % 60:02d}", "end": f"{end // 60:02d}:{end % 60:02d}"}
        for i, ((start, level), end) in enumerate(zip(steps, ends, strict=True)) if level < 1.0
    ]  # fmt: skip
    doc.pop("quiet_hours", None)
    return parse_config(doc)


def load_old(rev: str, into: Path) -> Path:
    """``rev``'s edge/control as a package ``old_control`` (its imports rewritten) and its
    example config; returns the directory to put on sys.path."""
    files = subprocess.run(
        ["git", "-C", str(REPO), "ls-tree", "--name-only", f"{rev}:edge/control"],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    pkg = into / "old_control"
    pkg.mkdir(parents=True)
    for name in files:
        text = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:edge/control/{name}"],
                              check=True, capture_output=True, text=True).stdout  # fmt: skip
        (pkg / name).write_text(re.sub(r"\bedge\.control\b", "old_control", text))
    config = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:edge/site.example.yaml"],
                            check=True, capture_output=True, text=True).stdout  # fmt: skip
    (into / "old_site.yaml").write_text(config)
    return into


class OldPolicy:
    """An earlier control core behind the interface the night engine uses; it keeps the
    reference baseline itself (that core has none)."""

    def __init__(self, site: SiteConfig, start: float, root: Path) -> None:
        sys.path.insert(0, str(root))
        import old_control as oc  # type: ignore[import-not-found]

        old = yaml.safe_load((root / "old_site.yaml").read_text())
        ladders = {
            c["id"]: (c["rated_class"], *c.get("adapt_classes", [])) for c in old["clusters"]
        }
        core = CoreSite.of(site)
        spec, params = core.spec, core.params
        c, p = old["controller"], old["controller"]["presence"]
        new_params = dataclasses.asdict
        self.oc = oc
        self.ctrl = oc.DimmingController(
            site=oc.SiteSpec(
                clusters=tuple(
                    oc.ClusterSpec(id=k.id, length_m=k.length_m, speed_limit_mps=k.speed_limit_mps,
                                   capacity_per_h=k.capacity_per_h, ladder=ladders[k.id])
                    for k in spec.clusters
                ),
                sensors=tuple(oc.SensorSpec(id=s.id, cluster=s.cluster, position_m=s.position_m)
                              for s in spec.sensors),
                lamps=oc.LampTable.from_columns(
                    ids=spec.lamps.ids, cluster=spec.lamps.cluster,
                    position_m=spec.lamps.position_m, nominal_w=spec.lamps.nominal_w,
                    floor=spec.lamps.floor, ceiling=spec.lamps.ceiling, clo=spec.lamps.clo,
                ),
            ),
            params=oc.PolicyParams(
                tick_s=c["tick_s"], flow_window_s=c["flow_window_s"],
                class_thresholds=tuple(c["class_thresholds"]),
                presence=oc.PresenceParams(**p), ramp_up_per_s=c["ramp_up_per_s"],
                ramp_down_per_s=c["ramp_down_per_s"], stale_s=c["stale_s"],
                deadband=c["deadband"], lease_s=c["lease_s"],
                lease_refresh_s=c["lease_refresh_s"],
                night=oc.NightParams(**new_params(params.night)),
                energy=oc.EnergyParams(**new_params(params.energy)),
            ),
            start=start,
            profiles=[
                oc.Profile(id=q.id, target=q.target, op=q.op, level=q.level,
                           start_min=q.start_min, end_min=q.end_min, days=q.days)
                for q in core.profiles if q.quiet_class is None
            ],
        )  # fmt: skip
        self.pir = np.array([not s.directional for s in spec.sensors])
        self.nominal = np.bincount(spec.lamps.cluster, weights=spec.lamps.nominal_w,
                                   minlength=len(spec.clusters))  # fmt: skip
        self.baseline_reference_wh = np.zeros(len(spec.clusters))
        self._now, self._night = start, False

    def step(self, now: float, observations: list[Any]) -> Any:
        old = []
        for b in observations:
            assert isinstance(b, CountsBatch)
            assert b.index is not None
            pir = self.pir[b.index][:, None]
            both = b.forward + b.backward
            old.append(self.oc.CountsBatch(
                sensors=b.sensors, interval_s=b.interval_s,
                forward=np.where(pir, both, b.forward), backward=np.where(pir, both, b.backward),
                mean_speed_mps=b.mean_speed_mps, index=b.index,
            ))  # fmt: skip
        if self._night:
            minute = self.ctrl._clock.local(self._now).minute
            level = schedule_level(REFERENCE_SCHEDULE, minute)
            frac = self.ctrl.energy.curve.fraction(level)
            self.baseline_reference_wh += self.nominal * frac * (now - self._now) / 3600.0
        result = self.ctrl.step(now, old)
        self._now, self._night = now, result.night
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ctrl, name)


def run(
    job: tuple[str, date, int, str | None, str | None],
) -> tuple[str, date, int, dict[str, Any]]:
    policy, day, seed, old_root, scenario_name = job
    site = parse_config(example())
    scenario = load_scenario(bundled_scenarios()[scenario_name]) if scenario_name else Scenario()
    scenario = scenario.model_copy(
        update={"sensors": "ideal" if policy == "ideal sensors" else "realistic"}
    )
    factory = None
    if policy == "reference schedule":
        site = clock_site()
    elif policy == "old policy":
        assert old_root is not None
        root = Path(old_root)

        def factory(s: SiteConfig, start: float) -> Any:
            return OldPolicy(s, start, root)

    k = simulate(site, scenario=scenario, day=day, seed=seed, controller=factory).kpis
    return policy, day, seed, k


def pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def tables(results: list[tuple[str, date, int, dict[str, Any]]]) -> str:
    """Per night and policy, then the nights together per policy and road."""
    names = list(results[0][3]["safety"]["per_road"])
    rows = ["| night | policy | kWh | saved vs full | vs reference schedule | under-lit | "
            "once counted | never counted | count -> met p99 | "
            + " | ".join(f"under-lit on {n}" for n in names) + " |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(names)]  # fmt: skip
    total: dict[str, dict[str, float]] = {}
    roads: dict[str, dict[str, list[float]]] = {}
    for policy, day, seed, k in sorted(results, key=lambda r: (r[1], r[2], POLICIES.index(r[0]))):
        s = k["safety"]
        p99 = s["detection_to_requirement_p99_s"]
        rows.append(
            f"| {day} (seed {seed}) | {policy} | {k['energy_kwh']:.2f} | "
            f"{k['saved_vs_full']['pct']:.1f} % | {k['saved_vs_reference']['pct']:.1f} % | "
            f"{pct(s['underlit_share'])} | {pct(s['detected_underlit_share'])} | "
            f"{pct(s['undetected_underlit_share'])} | {'-' if p99 is None else f'{p99:.1f} s'} | "
            + " | ".join(pct(s["per_road"][n]["underlit_share"]) for n in names)
            + " |"
        )
        t = total.setdefault(policy, dict.fromkeys(
            ("kwh", "full", "ref", "s", "u", "ds", "du"), 0.0))  # fmt: skip
        t["kwh"] += k["energy_kwh"]
        t["full"] += k["baseline_full_kwh"]
        t["ref"] += k["baseline_reference_kwh"]
        t["s"] += s["road_user_seconds"]
        t["u"] += s["underlit_s"]
        t["ds"] += s["detected_seconds"]
        t["du"] += s["detected_underlit_s"]
        for road, r in s["per_road"].items():
            acc = roads.setdefault(policy, {}).setdefault(road, [0.0, 0.0])
            acc[0] += r["road_user_seconds"]
            acc[1] += r["underlit_share"] * r["road_user_seconds"]
    out = ["| policy | kWh | saved vs full | vs reference schedule | under-lit | once counted | "
           + " | ".join(f"under-lit on {n}" for n in names) + " |",
           "|---|---:|---:|---:|---:|---:|" + "---:|" * len(names)]  # fmt: skip
    for policy in POLICIES:
        if policy not in total:
            continue
        t = total[policy]
        per = " | ".join(pct(roads[policy][n][1] / roads[policy][n][0]) for n in names)
        out.append(
            f"| {policy} | {t['kwh']:.2f} | {100 * (1 - t['kwh'] / t['full']):.1f} % | "
            f"{100 * (1 - t['kwh'] / t['ref']):.1f} % | {pct(t['u'] / t['s'])} | "
            f"{pct(t['du'] / t['ds'])} | {per} |"
        )
    return "\n".join(["Per night:", "", *rows, "", "The nights together:", "", *out])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--set", choices=sorted(SETS), default="eval")
    ap.add_argument("--old", default=OLD_REV, help="the earlier policy's git revision")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--write", action="store_true", help="update docs/policy.md")
    args = ap.parse_args()
    days, seeds, scenario_name = SETS[args.set]
    with tempfile.TemporaryDirectory() as tmp:
        root = str(load_old(args.old, Path(tmp)))
        jobs = [(p, d, s, root, scenario_name) for d in days for s in seeds for p in POLICIES]
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(run, jobs))
    body = tables(results)
    command = f"scripts/policy_table.py --set {args.set}"
    where = f"the bundled scenario {scenario_name}; " if scenario_name else ""
    text = f"`{command}` ({where}{machine_line().split(';')[0]}):\n\n{body}\n"
    print(text)
    if args.write:
        doc = REPO / "docs" / "policy.md"
        key = f"policy-table-{args.set}"
        start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
        current = doc.read_text()
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        if not pattern.search(current):
            raise SystemExit(f"docs/policy.md has no {start} ... {end} section")
        doc.write_text(pattern.sub(lambda _: f"{start}\n{text}{end}", current))


if __name__ == "__main__":
    main()
