"""The daemon keeps working inside the systemd unit's sandbox, checked without systemd:
`streetlight demo` (the real daemon, a private broker and a simulated street in one process)
runs with writable-executable memory refused, and makes no system call the unit's
SystemCallFilter refuses."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

UNIT = REPO / "config" / "systemd" / "streetlight-edge.service"
DEMO = ("demo", "--duration", "4", "--speed", "60", "--seed", "3")

# MemoryDenyWriteExecute= as the kernel's own switch (Linux >= 6.3), inherited across exec.
_UNDER_MDWE = """
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    print(f"prctl(PR_SET_MDWE): {os.strerror(ctypes.get_errno())}", file=sys.stderr)
    sys.exit(77)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
except PermissionError:
    os.execv(sys.argv[1], sys.argv[1:])
sys.exit("writable and executable memory was not refused")
"""


def _streetlight() -> str:
    return str(Path(sys.executable).with_name("streetlight"))


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("STREETLIGHT_")}


def _unit_values(key: str) -> list[str]:
    return [line.partition("=")[2] for line in UNIT.read_text().splitlines()
            if line.startswith(f"{key}=")]  # fmt: skip


def test_the_unit_refuses_writable_executable_memory() -> None:
    assert _unit_values("MemoryDenyWriteExecute") == ["true"]


@pytest.mark.timeout(120)
def test_the_daemon_runs_with_writable_executable_memory_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _UNDER_MDWE, _streetlight(), *DEMO],
        capture_output=True, text=True, env=_env(), timeout=100, check=False,
    )  # fmt: skip
    if done.returncode == 77:
        pytest.skip(f"this kernel cannot refuse W+X memory per process: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert "demo summary" in done.stdout
    assert re.search(r"leases applied by lamp nodes\s+[1-9]", done.stdout), done.stdout
    assert re.search(r"lamp-seconds below floor\s+0 ", done.stdout), done.stdout


def _syscall_sets(analyze: str) -> dict[str, list[str]]:
    """Every named set of `systemd-analyze syscall-filter`: its calls and @sets."""
    text = subprocess.run(
        [analyze, "syscall-filter", "--no-pager"], capture_output=True, text=True, check=True
    ).stdout
    sets: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("@"):
            current = sets.setdefault(line.strip(), [])
        elif line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
    return sets


def _expand(name: str, sets: dict[str, list[str]]) -> set[str]:
    out: set[str] = set()
    for item in sets[name]:
        out |= _expand(item, sets) if item.startswith("@") else {item}
    return out


def _allowed(analyze: str) -> set[str]:
    """The calls the unit's SystemCallFilter= lines allow (an allow list, then ~ removals)."""
    sets = _syscall_sets(analyze)
    allowed: set[str] = set()
    for value in _unit_values("SystemCallFilter"):
        deny = value.startswith("~")
        names = set()
        for item in value.removeprefix("~").split():
            names |= _expand(item, sets) if item.startswith("@") else {item}
        allowed = allowed - names if deny else allowed | names
    return allowed


@pytest.mark.timeout(180)
def test_the_daemon_makes_no_system_call_the_unit_refuses(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    strace = shutil.which("strace")
    if analyze is None or strace is None:
        pytest.skip("needs systemd-analyze and strace (Debian: apt-get install systemd strace)")
    allowed = _allowed(analyze)
    assert len(allowed) > 200, "the unit's SystemCallFilter= lines were not read"
    trace = tmp_path / "trace"
    done = subprocess.run(
        [strace, "-f", "-ff", "-qq", "-o", str(trace), _streetlight(), *DEMO],
        capture_output=True, text=True, env=_env(), timeout=160, check=False,
    )  # fmt: skip
    if done.returncode != 0 and "ptrace" in done.stderr:
        pytest.skip(f"strace cannot trace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    used: dict[str, str] = {}
    for per_process in tmp_path.glob("trace.*"):
        text = per_process.read_text(errors="replace")
        program = re.findall(r'^execve\("([^"]+)"', text, flags=re.MULTILINE)
        if program and not program[-1].endswith(("streetlight", "python", "python3")):
            continue  # the private mosquitto the demo starts: not the daemon
        for call in re.findall(r"^([a-z0-9_]+)\(", text, flags=re.MULTILINE):
            used.setdefault(call, per_process.name)
    assert {"epoll_wait", "connect", "openat"} <= set(used), sorted(used)  # the trace was read
    refused = set(used) - allowed
    if os.geteuid() == 0:
        # SQLite hands its journal to the database file's owner only when it runs as root;
        # the service runs as its own user and never does.
        refused -= {"fchown"}
    assert not refused, f"calls the unit refuses: {sorted(refused)}"
