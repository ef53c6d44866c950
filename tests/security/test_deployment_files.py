"""The shipped systemd unit (valid for systemd; the daemon unprivileged and hardened) and udev
rules (stable adapter names, ModemManager kept away)."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

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


def _analyze() -> str:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    return analyze


def _exported_unit(where: Path, *options: str) -> Path:
    """The unit as `streetlight config export` writes it for this install."""
    done = run_cli("config", "export", *options, str(where))
    assert done.returncode == 0, done.stderr
    return where / UNIT.name


def test_systemd_accepts_the_exported_unit_without_a_warning(tmp_path: Path) -> None:
    analyze = _analyze()
    unit = _exported_unit(tmp_path)
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""


def test_an_exec_path_with_spaces_and_percent_signs_reaches_systemd_intact(
    tmp_path: Path,
) -> None:
    analyze = _analyze()
    odd = tmp_path / "gateway 50% dimmed" / "bin" / "streetlight"
    odd.parent.mkdir(parents=True)
    odd.symlink_to(Path(sys.executable).with_name("streetlight"))
    unit = _exported_unit(tmp_path / "out", "--exec", str(odd))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    # verify checks that ExecStart names an executable file: a quoting slip fails here.
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""


def test_the_unit_is_exposed_at_most_2_0_by_systemd_analyze_security(tmp_path: Path) -> None:
    analyze = _analyze()
    unit = _exported_unit(tmp_path)
    done = subprocess.run(
        [analyze, "security", "--no-pager", "--offline=true", str(unit)],
        capture_output=True, text=True, env={**os.environ, "SYSTEMD_COLORS": "0"},
    )  # fmt: skip
    if "--offline" in done.stderr:
        pytest.skip(f"this systemd-analyze cannot score a unit file offline: {done.stderr}")
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) <= 2.0, done.stdout


def test_the_unit_opens_every_cabinet_serial_port_and_no_other_device() -> None:
    # systemd matches a char- group against the names in /proc/devices with fnmatch.
    groups = [v.split()[0].removeprefix("char-") for v in _service()["DeviceAllow"]]
    assert all(v.split()[1] == "rw" for v in _service()["DeviceAllow"])
    assert _service()["DevicePolicy"] == ["closed"]

    def allowed(name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, g) for g in groups)

    # USB adapters, CDC-ACM boards, the Pi's PL011 (major 204), 8250 and mini-UART (major 4),
    # SC16IS752 RS-485 HATs.
    for serial in ("ttyUSB", "ttyACM", "ttyAMA", "ttyS", "ttySC"):
        assert allowed(serial), serial
    for other in ("tty", "pts", "ptm", "mem", "rtc", "input", "usb", "hidraw", "i2c", "spidev"):
        assert not allowed(other), other


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
