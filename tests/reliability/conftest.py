"""Fault-injection fixtures: measured figures go to $STREETLIGHT_FIGURES (scripts/reliability)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

Figures = Callable[..., None]


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    """``figures(name=value, ...)``: print them, and append them to $STREETLIGHT_FIGURES."""

    def record(**values: Any) -> None:
        line = {"test": request.node.name, **values}
        print("FIGURES", json.dumps(line))
        path = os.environ.get("STREETLIGHT_FIGURES")
        if path:
            with Path(path).open("a") as out:
                out.write(json.dumps(line) + "\n")

    return record


def outbox_rows(state_dir: Path) -> tuple[dict[str, int], int]:
    """The outbox file as a stopped daemon left it: highest seq per boot still in it, depth."""
    db = sqlite3.connect(state_dir / "outbox.db", timeout=5)
    try:
        top = dict(db.execute("SELECT boot_id, MAX(seq) FROM outbox GROUP BY boot_id").fetchall())
        depth = int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    finally:
        db.close()
    return top, depth


@contextlib.contextmanager
def mounted_tmpfs(mnt: Path, options: str) -> Iterator[Path]:
    """A real tmpfs mounted at ``mnt`` with ``options`` (needs root; the test is skipped where
    it cannot mount), unmounted afterwards."""
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mnt)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
