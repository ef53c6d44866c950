"""The package builds with `python -m build` and works from a fresh venv, outside the repo.

This is what an operator does on a gateway (docs/operations.md): build or download the wheel,
install it into a new venv, run the CLI. The test catches files the code needs that the wheel
does not carry (the bundled example site, the scenarios, the protocol text, the unit, udev rule
and the rest of config/ that `streetlight config export` writes).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from edge import __version__
from tests.conftest import REPO


def _run(*args: str | Path, cwd: Path, timeout: float = 300) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREETLIGHT_", "PYTHON"))}
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.timeout(600)
def test_the_wheel_builds_installs_into_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--outdir", dist, REPO, cwd=tmp_path)
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    assert wheel.name == f"streetlight_edge-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    for needed in ("edge/site.example.yaml", "edge/py.typed", "firmware_bridge/PROTOCOL.md",
                   "simulator/scenarios/festival.yaml"):  # fmt: skip
        assert needed in names, f"the wheel lacks {needed}"
    assert not any(n.startswith("tests/") for n in names), "tests do not belong in the wheel"
    for shipped in (REPO / "config").rglob("*"):  # what `streetlight config export` writes
        if shipped.is_file():
            needed = f"edge/_deploy/{shipped.relative_to(REPO / 'config').as_posix()}"
            assert needed in names, f"the wheel lacks {needed}"
    with tarfile.open(sdist) as t:
        members = {m.name.split("/", 1)[1] for m in t.getmembers() if "/" in m.name}
    for needed in ("config/systemd/streetlight-edge.service", "config/mosquitto/bridge.conf",
                   "config/prometheus/prometheus.yml", "config/grafana/streetlight.json",
                   "docs/operations.md", "SECURITY.md"):  # fmt: skip
        assert needed in members, f"the sdist lacks {needed}"

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=tmp_path)
    where = tmp_path / "elsewhere"  # not the repo: nothing can come from the source tree
    where.mkdir()
    streetlight = venv / "bin" / "streetlight"
    assert _run(streetlight, "--version", cwd=where).strip().endswith(__version__)
    imports = "import edge, simulator, firmware_bridge; print(edge.__file__)"
    location = _run(venv / "bin" / "python", "-c", imports, cwd=where)
    assert location.startswith(str(venv)), location
    example = where / "site.yaml"
    example.write_text(_run(streetlight, "config", "example", cwd=where))
    _run(streetlight, "config", "validate", example, cwd=where)
    # The gateway's files from the wheel alone: the unit runs this venv's command.
    _run(streetlight, "config", "export", "--all", "gateway", cwd=where)
    exported = where / "gateway"
    _run(streetlight, "config", "validate", exported / "config.yaml", cwd=where)
    unit = (exported / "streetlight-edge.service").read_text()
    assert f"\nExecStart={streetlight} run --config /etc/streetlight/config.yaml\n" in unit
    assert "streetlight-radar" in (exported / "99-streetlight.rules").read_text()
    assert (exported / "mosquitto" / "bridge.conf").is_file()
    if analyze := shutil.which("systemd-analyze"):
        _run(analyze, "verify", exported / "streetlight-edge.service", cwd=where)
    assert "festival" in _run(streetlight, "sim", "--list", cwd=where)
    kpis = json.loads(_run(streetlight, "sim", "--json", "--date", "2026-06-21", cwd=where))
    assert kpis["lamps"] == 60
    assert 0 < kpis["energy_kwh"] < kpis["baseline_full_kwh"]
