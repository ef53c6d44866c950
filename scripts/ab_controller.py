#!/usr/bin/env python3
"""A/B of the controller step: a git revision against the working tree, in one process.

    .venv/bin/python scripts/ab_controller.py REV [--sizes 10000,100000] [--rounds 12]

Checks REV out into a temporary git worktree, loads both trees' `edge` packages side by side
(each under its own module names), builds both controllers on the same benchmark site
(scripts/bench_controller.py: typical workload), and steps them in alternating blocks of 40
ticks, so a drift in the shared machine's speed hits both alike. Prints each side's median
and mean step time and the ratio of medians (new/old). Both working sets are in memory at
once, so at 100k lamps and up the caches are under more pressure than in the benchmark.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np

REPO = Path(__file__).resolve().parent.parent
PER_BLOCK = 40


def load_bench(root: Path, tag: str) -> ModuleType:
    """scripts/bench_controller.py of the tree at ``root``, with that tree's `edge`."""
    for name in [m for m in sys.modules if m == "edge" or m.startswith(("edge.", "scripts"))]:
        del sys.modules[name]  # the other tree's modules stay referenced by its objects
    sys.path.insert(0, str(root))
    try:
        spec = importlib.util.spec_from_file_location(
            f"bench_{tag}", root / "scripts" / "bench_controller.py"
        )
        if spec is None or spec.loader is None:
            raise SystemExit(f"no scripts/bench_controller.py in {root}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(root))
    return module


def compare(old: ModuleType, new: ModuleType, n: int, rounds: int) -> None:
    sides = {}
    for tag, m in (("old", old), ("new", new)):
        site = m.make_site(n)
        ctrl, t = m.warm_controller(site, m.PolicyParams())
        sides[tag] = [m, ctrl, t, m.workload(site, PER_BLOCK * rounds), []]
    for r in range(rounds):
        for tag in ("old", "new") if r % 2 == 0 else ("new", "old"):
            m, ctrl, t, batches, times = sides[tag]
            times.extend(m.step_times(ctrl, t, batches[r * PER_BLOCK : (r + 1) * PER_BLOCK]))
            sides[tag][2] = t + PER_BLOCK
    medians = {}
    for tag, (*_, times) in sides.items():
        ms = np.array(times) * 1e3
        medians[tag] = float(np.median(ms))
        print(f"  {tag} {n:>9,} lamps: median {medians[tag]:.3f} ms, mean {ms.mean():.3f} ms")
    print(f"  new/old (medians) {medians['new'] / medians['old']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("rev", help="the old side: a commit, tag or branch")
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--rounds", type=int, default=12, help="blocks of 40 ticks per side")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "old"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(tree), args.rev],
            check=True,
        )
        try:
            old = load_bench(tree, "old")
            new = load_bench(REPO, "new")
            print(f"old = {args.rev}, new = the working tree")
            for n in (int(x) for x in args.sizes.split(",")):
                compare(old, new, n, args.rounds)
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=True
            )


if __name__ == "__main__":
    main()
