"""The shipped systemd unit (valid for systemd; the daemon unprivileged and hardened) and udev
rules (stable adapter names, ModemManager kept away)."""

from __future__ import annotations

import re
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
    assert s["RestartSec"] == ["500ms"]  # crash to first lease: this plus the daemon's start
    assert s["RestartPreventExitStatus"] == ["2"]  # an invalid config is not retried
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


UDEV = REPO / "config" / "udev" / "99-streetlight.rules"
_TOKEN = re.compile(
    r'^(?P<key>[A-Z_]+)(?:\{(?P<attr>[A-Za-z_]+)\})?(?P<op>==|!=|\+=|:=|=)"(?P<value>[^"]*)"$'
)


def test_the_udev_rules_parse_and_give_the_example_site_its_stable_device_name() -> None:
    rules = [
        line for line in UDEV.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    names = []
    for rule in rules:
        tokens = [t.strip() for t in rule.split(", ")]
        matched = [_TOKEN.match(t) for t in tokens]
        assert all(matched), rule
        assert any(m.group("op") == "==" for m in matched if m)  # every rule matches something
        names += [m.group("value") for m in matched if m and m.group("key") == "SYMLINK"]
    assert "streetlight-radar" in names
    example = (REPO / "config" / "site.example.yaml").read_text()
    assert "url: /dev/streetlight-radar" in example
    # ModemManager never probes the adapters the rules name.
    assert sum('ENV{ID_MM_DEVICE_IGNORE}="1"' in r for r in rules) >= 4
