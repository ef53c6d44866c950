"""The shipped systemd unit: valid for systemd, and the daemon runs unprivileged and hardened."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

UNIT = REPO / "config" / "systemd" / "streetlight-edge.service"


def _service() -> dict[str, list[str]]:
    """The [Service] keys (a key may repeat, as systemd allows)."""
    values: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif line and not line.startswith("#") and section == "Service":
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_the_unit_runs_the_daemon_unprivileged_hardened_and_watched() -> None:
    s = _service()
    assert s["Type"] == ["notify"]
    assert s["User"] == ["streetlight"]
    assert s["SupplementaryGroups"] == ["dialout"]
    assert s["StateDirectory"] == ["streetlight"]  # /var/lib/streetlight, storage.state_dir
    assert s["NoNewPrivileges"] == ["true"]
    assert s["ProtectSystem"] == ["strict"]
    assert s["CapabilityBoundingSet"] == [""]
    assert int(s["WatchdogSec"][0]) >= 10
    assert s["Restart"] == ["on-failure"]
    assert s["ExecStart"][0].endswith("streetlight run --config /etc/streetlight/config.yaml")


def test_systemd_accepts_the_unit_without_a_warning(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    exe = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "streetlight"
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/opt/streetlight/venv/bin/streetlight", str(exe)))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""
