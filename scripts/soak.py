"""The body of scripts/soak (run that)."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge.config import example_config_path  # noqa: E402
from scripts._benchdoc import machine_line, replace_section  # noqa: E402
from simulator.harness.soak import run_soak  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--speed", type=float, default=10.0, help="virtual seconds per real second")
    ap.add_argument("--flap-every", type=float, default=120.0, help="real s between restarts")
    ap.add_argument("--down", type=float, default=10.0, help="real s the broker stays down")
    ap.add_argument("--config", type=Path, default=example_config_path())
    ap.add_argument("--write", action="store_true", help="update docs/reliability.md")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up as on Ctrl-C

    def progress(t: float, total: float, rss_kib: int, flaps: int) -> None:
        print(f"soak {t / 60:5.1f}/{total / 60:.0f} min  rss {rss_kib / 1024:6.1f} MiB  "
              f"broker restarts {flaps}", file=sys.stderr, flush=True)  # fmt: skip

    report = asyncio.run(
        run_soak(args.config, minutes=args.minutes, speed=args.speed,
                 flap_every_s=args.flap_every, down_s=args.down, progress=progress)
    )  # fmt: skip
    print(json.dumps(report, indent=2))
    if args.write:
        cmd = (f"scripts/soak --minutes {args.minutes:g} --speed {args.speed:g} "
               f"--flap-every {args.flap_every:g} --down {args.down:g} --write")  # fmt: skip
        rows = "\n".join(f"| {k} | {v} |" for k, v in report.items())
        body = f"{machine_line()}\n\nCommand: `{cmd}`\n\n| figure | value |\n|---|---|\n{rows}\n"
        replace_section(REPO / "docs" / "reliability.md", "soak", "Soak", body)


if __name__ == "__main__":
    main()
