"""The CLI's arguments through the real entry point: errors that name the argument and what
it takes, shell completion of only what a command accepts, durations and times with their
zone, and a config key in the wrong place answered with where it belongs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edge.cli._args import format_duration, format_time, parse_duration
from edge.config import example_config_path
from edge.errors import ArgumentError
from tests.conftest import run_cli
from tests.helpers.gateway import NIGHT, write_site


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1d", 86400), ("90m", 5400), ("2h30m", 9000), ("1d12h", 129600), ("45s", 45),
     ("600", 600), ("1.5h", 5400), (" 2h 30m ", 9000)],
)  # fmt: skip
def test_durations_take_days_hours_minutes_and_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "3x", "2h2h", "h", "1w", "0", "0m", "-5m", "tomorrow"])
def test_a_bad_duration_names_the_argument_and_what_it_takes(text: str) -> None:
    with pytest.raises(ArgumentError) as info:
        parse_duration(text)
    assert str(info.value).startswith("--for: ")
    assert "1d, 2h30m, 90m" in str(info.value)
    assert info.value.exit_code == 2


def test_times_carry_their_zone_or_z() -> None:
    from zoneinfo import ZoneInfo

    assert format_time(NIGHT, ZoneInfo("Europe/Amsterdam")) == "2026-11-28 23:30:00 CET"
    assert format_time(NIGHT, ZoneInfo("UTC")) == "2026-11-28 22:30:00Z"
    assert format_time(NIGHT, None).endswith("Z")
    assert format_duration(9000) == "2h30m"
    assert format_duration(86400) == "1d"


def test_argument_errors_say_which_argument_not_invalid_config(tmp_path: Path) -> None:
    config = str(write_site(tmp_path, port=1))
    result = run_cli("override", "all", "--level", "0.8", "--for", "3x", "-c", config)
    assert result.returncode == 2
    assert "--for: '3x' is not a duration such as 1d, 2h30m, 90m, 45s" in result.stderr
    assert "invalid config" not in result.stderr
    result = run_cli("override", "all", "--level", "0.8", "--op", "above", "--for", "1h",
                     "-c", config)  # fmt: skip
    assert result.returncode == 2
    assert "'above' is not one of 'set', 'min', 'max'" in " ".join(result.stderr.split())
    result = run_cli("run", "-c", config, "--virtual-start", "tonight")
    assert result.returncode == 2
    assert "--virtual-start: 'tonight' is not an ISO date-time" in result.stderr


def _complete(*words: str) -> list[str]:
    env = {"_STREETLIGHT_COMPLETE": "complete_bash", "COMP_WORDS": " ".join(words),
           "COMP_CWORD": str(len(words) - 1)}  # fmt: skip
    result = run_cli(env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_completion_offers_only_what_the_command_takes(tmp_path: Path) -> None:
    config = str(write_site(tmp_path, port=1))
    lamps = _complete("streetlight", "explain", "-c", config, "")
    assert "art-001" in lamps
    assert "arterial" not in lamps  # explain takes a lamp, not a cluster
    assert "all" not in lamps
    clusters = _complete("streetlight", "lamps", "-c", config, "--cluster", "")
    assert clusters == ["arterial", "residential", "cyclepath"]
    targets = _complete("streetlight", "override", "-c", config, "")
    assert {"all", "arterial", "res-004"} <= set(targets)
    assert _complete("streetlight", "override", "all", "--op", "") == ["set", "min", "max"]
    assert _complete("streetlight", "sim", "--sensors", "") == ["realistic", "ideal"]
    assert "festival" in _complete("streetlight", "sim", "--scenario", "fest")


def test_a_key_in_the_wrong_place_says_where_it_belongs(tmp_path: Path) -> None:
    doc = yaml.safe_load(example_config_path().read_text())
    doc["clusters"][0]["source"] = "serial"  # a lamp's or a sensor's key, not a cluster's
    doc["clusters"][0]["lamp_array"]["nominal_w"] = 60  # a lamp's and a cluster's
    doc["clusters"][1]["flor"] = 0.3  # a typo: the keys of this place
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = run_cli("config", "validate", str(path))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert (
        "  clusters[0].source: unknown key 'source': it is a key of clusters[].lamps[] and "
        "clusters[].sensors[], not of clusters[]"
    ) in lines
    assert (
        "  clusters[0].lamp_array.nominal_w: unknown key 'nominal_w': it is a key of clusters[] "
        "and clusters[].lamps[], not of clusters[].lamp_array"
    ) in lines
    assert "  clusters[1].flor: unknown key 'flor' (did you mean floor?)" in lines


def test_config_validate_prints_json(tmp_path: Path) -> None:
    result = run_cli("config", "validate", str(example_config_path()), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["lamps"] == 60
    assert summary["gateway_id"] == "cabinet-0417"


def test_an_error_shows_square_brackets_as_written(tmp_path: Path) -> None:
    """Errors are text, not rich markup: a key such as ``[red]`` (or a broker's
    ``[code:135]``) is shown, not taken as a style and dropped."""
    doc = yaml.safe_load(example_config_path().read_text())
    doc["[red]mistake"] = 1
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = run_cli("config", "validate", str(path))
    assert result.returncode == 2
    assert "unknown key '[red]mistake'" in result.stderr
