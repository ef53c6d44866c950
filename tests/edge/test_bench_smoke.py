"""scripts/bench_controller.py still runs and fills its table (a smoke run at 1,000 lamps: the
figures themselves are the benchmark's business, measured on purpose, not in tests), and the
daemon benchmark's sites are still valid configs."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _bench_module(name: str = "bench_controller") -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_controller_bench_measures_every_column_at_1000_lamps() -> None:
    bench = _bench_module()
    row = bench.bench(1000, with_reference=True, blocks=2)
    columns = {"typical", "median", "static", "busy", "ramp", "floor", "floor_ratio",
               "reference", "ref_ratio"}  # fmt: skip
    assert columns <= set(row)
    assert all(math.isfinite(row[c]) and row[c] > 0 for c in columns)
    line = bench.table([row]).splitlines()[-1]
    assert line.startswith("| 1,000 |")
    assert line.count("|") == 11
    assert " - " not in line  # every cell filled, the reference's too


def test_the_daemon_bench_builds_valid_sites(tmp_path: Path) -> None:
    bench = _bench_module("bench_daemon")
    site = bench.bench_site(100, 1883, tmp_path, gateway="smoke", tick_s=0.5)
    assert len(site.all_lamps()) == 100
    assert site.controller.presence.m_steps_up == 5
