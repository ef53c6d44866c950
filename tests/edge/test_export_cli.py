"""`streetlight config export DIR`, through the real console script: the gateway's files from
the installed package, an example that validates, and nothing overwritten without --force."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.conftest import REPO, run_cli

GATEWAY_FILES = ("streetlight-edge.service", "99-streetlight.rules", "config.yaml")


def test_export_writes_the_unit_the_udev_rule_and_an_example_that_validates(
    tmp_path: Path,
) -> None:
    out = tmp_path / "new" / "gateway"  # created, parents too
    done = run_cli("config", "export", str(out))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(GATEWAY_FILES)
    for name in GATEWAY_FILES:
        assert str(out / name) in done.stdout
    unit = (out / "streetlight-edge.service").read_text()
    here = Path(sys.executable).with_name("streetlight")
    assert f"\nExecStart={here} run --config /etc/streetlight/config.yaml\n" in unit
    shipped = (REPO / "config" / "systemd" / "streetlight-edge.service").read_text()
    assert unit.replace(str(here), "/opt/streetlight/venv/bin/streetlight") == shipped
    rules = REPO / "config" / "udev" / "99-streetlight.rules"
    assert (out / "99-streetlight.rules").read_text() == rules.read_text()
    valid = run_cli("config", "validate", str(out / "config.yaml"))
    assert valid.returncode == 0, valid.stderr
    assert "ok - gateway cabinet-0417" in valid.stdout


def test_export_names_the_files_it_will_not_overwrite_and_writes_none(tmp_path: Path) -> None:
    (tmp_path / "99-streetlight.rules").write_text("# the cabinet's own rule\n")
    done = run_cli("config", "export", str(tmp_path))
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    assert f"{tmp_path / '99-streetlight.rules'} exists; pass --force to overwrite it" in message
    assert "Traceback" not in done.stderr
    # All or nothing: the files that were missing are not written either.
    assert [p.name for p in tmp_path.iterdir()] == ["99-streetlight.rules"]
    assert (tmp_path / "99-streetlight.rules").read_text() == "# the cabinet's own rule\n"

    forced = run_cli("config", "export", "--force", str(tmp_path))
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "99-streetlight.rules").read_text().startswith("# udev rules")
    again = run_cli("config", "export", str(tmp_path))
    assert again.returncode == 2
    assert "exist; pass --force to overwrite them" in " ".join(again.stderr.split())


def test_export_all_writes_every_shipped_file_as_it_is_in_config(tmp_path: Path) -> None:
    done = run_cli("config", "export", "--all", str(tmp_path))
    assert done.returncode == 0, done.stderr
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    shipped = {p.relative_to(REPO / "config").as_posix()
               for p in (REPO / "config").rglob("*") if p.is_file()}  # fmt: skip
    placed = {"site.example.yaml": "config.yaml",
              "systemd/streetlight-edge.service": "streetlight-edge.service",
              "udev/99-streetlight.rules": "99-streetlight.rules"}  # fmt: skip
    assert written == {placed.get(name, name) for name in shipped}
    for name in shipped - set(placed):
        assert (tmp_path / name).read_text() == (REPO / "config" / name).read_text(), name


def test_export_takes_only_an_absolute_command_for_the_unit(tmp_path: Path) -> None:
    done = run_cli("config", "export", "--exec", "venv/bin/streetlight", str(tmp_path))
    assert done.returncode == 2
    assert "--exec" in done.stderr
    assert "venv/bin/streetlight is not an absolute path" in " ".join(done.stderr.split())
    assert list(tmp_path.iterdir()) == []
    done = run_cli("config", "export", "--exec", "/opt/sl/bin/streetlight", str(tmp_path))
    assert done.returncode == 0, done.stderr
    unit = (tmp_path / "streetlight-edge.service").read_text()
    assert "\nExecStart=/opt/sl/bin/streetlight run --config" in unit
