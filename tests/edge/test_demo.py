"""`streetlight demo`: the real CLI runs broker, daemon and street, and reports."""

from __future__ import annotations

import re

from tests.conftest import run_cli


def test_demo_runs_the_street_and_prints_the_summary() -> None:
    result = run_cli("demo", "--duration", "8", "--speed", "60", "--seed", "3", timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "demo summary" in out
    users = re.search(r"road users\s+(\d+) \((\d+) sensor reports\)", out)
    assert users
    assert int(users[1]) > 0
    assert int(users[2]) > 0
    leases = re.search(r"leases applied by lamp nodes\s+(\d+)", out)
    assert leases
    assert int(leases[1]) >= 60
    assert re.search(r"lamp-seconds below floor\s+0 ", out)
    energy = re.search(r"energy\s+([\d.]+) kWh", out)
    assert energy
    assert float(energy[1]) > 0
