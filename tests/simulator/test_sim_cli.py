"""The real `streetlight sim` CLI: a night with no arguments, records and reports, several
nights and a year, bad input. Whole nights: in a file of their own, so a test worker runs them
beside the model's tests."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import run_cli
from tests.simulator.sites import small_site


@pytest.mark.timeout(300)  # a whole night of the example site: the README's main job
def test_cli_sim_with_no_arguments_prints_the_kpis() -> None:
    result = run_cli("sim", timeout=280)
    assert result.returncode == 0, result.stderr
    for phrase in ("saved vs full power", "under-lit (requirement)", "kWh", "cabinet-0417"):
        assert phrase in result.stdout


def test_cli_record_and_report(tmp_path: Path) -> None:
    cfg = tmp_path / "site.yaml"
    cfg.write_text(yaml.safe_dump(small_site().model_dump(mode="json")))
    out = tmp_path / "night.npz"
    rep = tmp_path / "report"
    result = run_cli("sim", "--config", str(cfg), "--date", "2026-06-21", "--seed", "3",
                     "--record", str(out), "--report", str(rep), "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    kpis = json.loads(result.stdout)
    assert kpis["seed"] == 3
    data = np.load(out)
    t, n = kpis["ticks"], kpis["lamps"]
    assert data["level"].shape == (t, n)
    assert data["level"].dtype == np.float32
    assert data["power_w"].shape == (t, n)
    assert data["t"].shape == (t,)
    assert list(data["lamp_ids"][:2]) == ["road-001", "road-002"]
    assert set(data["cluster_ids"]) == {"road"}
    assert float(data["level"].min()) >= 0.0
    assert float(data["level"].max()) <= 1.0
    assert (rep / "report.md").read_text().startswith("# Night report")
    assert json.loads((rep / "kpis.json").read_text())["energy_kwh"] == kpis["energy_kwh"]
    assert (rep / "clusters.png").stat().st_size > 10_000
    assert (rep / "space_time.png").stat().st_size > 10_000


def test_cli_bad_trace_exits_2_with_the_line(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("t_s,cluster,kind,direction,speed_mps\n1,nowhere,car,1,10\n")
    result = run_cli("sim", "--trace", str(trace), "--json")
    assert result.returncode == 2
    assert "line 2" in result.stderr
    assert "unknown cluster 'nowhere'" in result.stderr


@pytest.mark.timeout(300)  # four whole nights, two at a time
def test_cli_several_nights_and_a_year(tmp_path: Path) -> None:
    cfg = tmp_path / "site.yaml"
    cfg.write_text(yaml.safe_dump(small_site().model_dump(mode="json")))
    result = run_cli("sim", "--config", str(cfg), "--dates", "2026-06-21,2026-06-22",
                     "--json", "--jobs", "2", timeout=140)  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert [k["date"] for k in out["nights"]] == ["2026-06-21", "2026-06-22"]
    assert "months" not in out
    total = out["total"]
    assert total["energy_kwh"] == pytest.approx(sum(k["energy_kwh"] for k in out["nights"]))
    assert total["safety"]["road_users"] == sum(k["safety"]["road_users"] for k in out["nights"])
    # a quick estimate of the year from 1 May: 1 May and 17 November, each for 182.5 nights
    year = run_cli("sim", "--config", str(cfg), "--year", "--date", "2026-05-01",
                   "--every", "200", "--jobs", "2", timeout=140)  # fmt: skip
    assert year.returncode == 0, year.stderr
    for phrase in ("the year 2026-05-01 to 2027-04-30, 1 night in 200", "month", "May 2026",
                   "Nov 2026", "total", "estimated from 2 nights, 1 in 200", "vs ref",
                   "cost EUR", "Saved vs full power"):  # fmt: skip
        assert phrase in year.stdout
    assert "2026-11-17" not in year.stdout  # a row a month, none a night


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (("--every", "3"), "--every goes with --year"),
        (("--dates", "2026-06-21", "--every", "3"), "--every goes with --year"),
        (("--year", "--date", "2026-13-01"), "--date: '2026-13-01' is not a date; use YYYY-MM-DD"),
        (("--year", "--dates", "2026-06-21"), "no --date or --year with it"),
        (("--year", "--report", "out"), "--trace, --record and --report take one night"),
        (("--year", "--every", "0"), "Invalid value for '--every'"),
        # the year is --date's
        (
            ("--year", "2026"),
            "--year: takes no value (got '2026'); the year runs 365 nights "
            "from --date: --year --date 2026-01-01",
        ),
        (("2026-06-21",), "unexpected argument '2026-06-21'; a night is --date 2026-06-21"),
        (("--sensors", "perfect"), "Invalid value for '--sensors'"),
        (
            ("--scenario", "festivals"),
            "'festivals' is neither a bundled scenario nor a file; bundled: arterial, festival",
        ),
        (("--dates", "2026-06-21,tomorrow"), "--dates: 'tomorrow' (night 2) is not a date"),
    ],
)
def test_cli_bad_year_or_dates_exit_2_saying_why(args: tuple[str, ...], phrase: str) -> None:
    result = run_cli("sim", *args)
    assert result.returncode == 2
    assert phrase in " ".join(result.stderr.split())  # rich wraps its boxes
    assert "invalid config" not in result.stderr  # an argument is not the config


@pytest.mark.timeout(300)  # two whole nights of a small site
def test_cli_sim_on_a_terminal_shows_progress_with_the_time_left(tmp_path: Path) -> None:
    """On a terminal (stderr a pty), a year shows a bar with the share done, time so far and
    time left; the table still goes to stdout."""
    cfg = tmp_path / "site.yaml"
    cfg.write_text(yaml.safe_dump(small_site().model_dump(mode="json")))
    exe = Path(sys.executable).with_name("streetlight")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "edge"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREETLIGHT_")}
    terminal, screen = pty.openpty()
    shown = bytearray()

    def read_screen() -> None:  # keep the pty drained, or the CLI blocks writing its bar
        with contextlib.suppress(OSError):  # EIO once the CLI's end is closed
            while chunk := os.read(terminal, 65536):
                shown.extend(chunk)

    reader = threading.Thread(target=read_screen, daemon=True)
    reader.start()
    try:
        with subprocess.Popen(
            [*cmd, "sim", "--config", str(cfg), "--year", "--date", "2026-05-01",
             "--every", "200", "--jobs", "1"],
            stdout=subprocess.PIPE, stderr=screen, text=True,
            env={**env, "TERM": "xterm", "COLUMNS": "120"},
        ) as cli:  # fmt: skip
            os.close(screen)
            stdout, _ = cli.communicate(timeout=280)
        reader.join(timeout=10)
    finally:
        os.close(terminal)
    assert cli.returncode == 0
    text = shown.decode(errors="replace")
    assert "simulating" in text
    assert "2 nights" in text  # 1 May and 17 November
    assert "100%" in text
    assert "left" in text
    assert re.search(r"\d:\d\d:\d\d", text)  # the time so far and the time left, h:mm:ss
    assert "the year 2026-05-01 to 2027-04-30" in stdout
