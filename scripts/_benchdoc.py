"""Shared by the bench scripts: the machine line, and replacing one section of benchmarks.md."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np


def yardstick_s() -> float:
    """How fast the machine runs Python now, to read absolute figures by (a shared machine's
    speed moves from day to day): a loop of 10 million additions, best of 3."""
    best = float("inf")
    for _ in range(3):
        started, total = time.perf_counter(), 0
        for i in range(10_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Measured {when} on {cpu}, {os.cpu_count()} cores{mem}; "
        f"Python {platform.python_version()}, "
        f"numpy {np.__version__}; a Python loop of 10M additions took {yardstick_s():.2f} s. "
        "A shared machine: figures vary run to run; ratios are measured side by side in one run."
    )


def replace_section(path: Path, key: str, title: str, body: str) -> None:
    """Replace (or append) the section between <!-- key:start --> and <!-- key:end -->."""
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    block = f"{start}\n## {title}\n\n{body.strip()}\n{end}"
    text = (
        path.read_text()
        if path.exists()
        else "# Benchmarks\n\nEach section is rewritten by the script it names.\n"
    )
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + block + "\n"
    )
    path.write_text(text)
