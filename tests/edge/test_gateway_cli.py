"""The field-engineer CLI against a real daemon on a private broker (the CLI as a subprocess)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from tests.conftest import run_cli
from tests.helpers.broker import MosquittoBroker
from tests.helpers.gateway import NIGHT, Gateway, running_gateway, write_site


async def _cli(*args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(run_cli, *args, timeout=30)
    return result.returncode, result.stdout, result.stderr


async def test_read_commands_in_human_and_json_form(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    path = write_site(tmp_path, port=broker.port)
    history = "energy:\n  history_s: 10\n  checkpoint_s: 2\n"
    path.write_text(path.read_text().replace("energy:\n", history, 1))
    config = str(path)
    async with running_gateway(config=Path(config)) as gw:
        await gw.until(lambda: gw.daemon.mqtt.is_connected and gw.daemon.stats.ticks > 3, 10)
        rc, out, err = await _cli("ping", "-c", config)
        assert rc == 0, err
        assert "pong from boot" in out
        rc, out, _ = await _cli("ping", "-c", config, "--json")
        assert json.loads(out)["boot_id"] == gw.daemon.boot_id

        rc, out, _ = await _cli("status", "-c", config)
        assert rc == 0
        assert "cabinet-0417" in out
        assert "arterial" in out
        rc, out, _ = await _cli("status", "-c", config, "--json")
        status = json.loads(out)
        assert status["online"] is True
        assert [c["id"] for c in status["clusters"]] == ["arterial", "residential", "cyclepath"]

        rc, out, _ = await _cli("clusters", "-c", config, "--json")
        assert {c["id"] for c in json.loads(out)["clusters"]} == {
            "arterial",
            "residential",
            "cyclepath",
        }
        rc, out, _ = await _cli("clusters", "-c", config)
        assert "rated M3" in out

        rc, out, _ = await _cli("lamps", "-c", config, "--cluster", "residential", "--json")
        rows = json.loads(out)["lamps"]
        assert len(rows) == 20
        assert all(r["cluster"] == "residential" for r in rows)
        rc, out, _ = await _cli("lamps", "-c", config, "--cluster", "residential")
        assert "res-001" in out

        rc, out, _ = await _cli("energy", "-c", config, "--json")
        energy = json.loads(out)
        assert energy["kwh"] > 0
        assert energy["baseline_full_kwh"] >= energy["kwh"]
        rc, out, _ = await _cli("energy", "-c", config)
        assert "saved" in out

        await _energy_since(gw, config)

        rc, out, _ = await _cli("explain", "art-001", "-c", config)
        assert rc == 0
        assert "lamp art-001 in cluster arterial" in out
        rc, out, _ = await _cli("explain", "art-001", "-c", config, "--json")
        assert json.loads(out)["explanation"]["cluster"] == "arterial"

        rc, out, err = await _cli("explain", "art-1", "-c", config)
        assert rc == 2
        assert "art-1" in err
        assert "did you mean" in err


async def _energy_since(gw: Gateway, config: str) -> None:
    """``energy --since``: the difference from the hourly (here every 10 s) history snapshot."""
    await gw.until(lambda: gw.clock.time() - NIGHT > 45, 15, "45 virtual seconds")
    rc, out, _ = await _cli("energy", "-c", config, "--json")
    total = json.loads(out)
    rc, out, err = await _cli("energy", "-c", config, "--since", "20s", "--json")
    assert rc == 0, err
    recent = json.loads(out)
    assert 0 < recent["kwh"] < total["kwh"]
    assert recent["history_starts_later"] is False
    assert recent["since"] <= recent["requested_since"]  # the snapshot at or before
    assert set(recent["clusters"]) == {"arterial", "residential", "cyclepath"}
    rc, out, err = await _cli("energy", "-c", config, "--since", "2026-01-01", "--json")
    assert rc == 0, err
    whole = json.loads(out)
    assert whole["history_starts_later"] is True
    rc, out, _ = await _cli("energy", "-c", config, "--json")
    after = json.loads(out)  # time runs on (10x) between the calls: bracket the answer
    assert 0.8 * total["kwh"] <= whole["kwh"] <= after["kwh"]  # from the first tick on
    rc, out, _ = await _cli("energy", "-c", config, "--since", "20s")
    assert "kWh since 2026-11-28T23:" in out
    rc, _, err = await _cli("energy", "-c", config, "--since", "yesterday")
    assert rc == 2
    assert "'yesterday' is not a duration" in err
    rc, _, err = await _cli("energy", "-c", config, "--since", "2030-01-01")
    assert rc == 2
    assert "future" in err


async def test_override_applies_persists_across_restart_and_expires(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    config = write_site(tmp_path, port=broker.port)
    c = str(config)
    async with running_gateway(config) as gw:
        await gw.until(lambda: gw.daemon.mqtt.is_connected, 10)
        rc, out, err = await _cli(
            "override", "residential", "--level", "0.1", "--for", "2h", "-c", c
        )
        assert rc == 2
        assert "--allow-dark" in err
        rc, out, err = await _cli(
            "override", "resdential", "--level", "0.9", "--for", "2h", "-c", c
        )
        assert rc == 2
        assert "residential" in err  # the closest match
        rc, out, err = await _cli("override", "residential", "--level", "0.9", "--for", "2h",
                                  "--reason", "road works", "-c", c, "--json")  # fmt: skip
        assert rc == 0, err
        oid = json.loads(out)["override"]["id"]
        await gw.until(lambda: abs(gw.lamp_level("res-010") - 0.9) < 0.01, 10)
        # A short one that expires (the daemon's clock runs 10x: 20 s is 2 s here).
        rc, out, err = await _cli(
            "override", "art-005", "--level", "1", "--op", "max", "--for", "20s", "-c", c
        )
        assert rc == 0, err
        assert "override" in out
    async with running_gateway(config) as gw2:
        await gw2.until(lambda: gw2.daemon.mqtt.is_connected, 10)
        rc, out, _ = await _cli("overrides", "-c", c, "--json")
        ids = {o["id"] for o in json.loads(out)["overrides"]}
        assert oid in ids
        rc, out, _ = await _cli("overrides", "-c", c)
        assert "road works" in out
        await gw2.until(lambda: len(gw2.daemon.controller.overrides) == 1, 10)  # art-005 expired
        rc, out, _ = await _cli("clear", oid, "-c", c, "--json")
        assert rc == 0
        assert json.loads(out) == {"cleared": [oid]}
        rc, out, err = await _cli(
            "override", "cyclepath", "--level", "1", "--op", "max", "--for", "1h", "-c", c
        )
        assert rc == 0, err
        rc, out, _ = await _cli("clear", "cyclepath", "-c", c)  # by target
        assert rc == 0
        assert "ovr-" in out
        rc, out, _ = await _cli("overrides", "-c", c)
        assert "no overrides" in out
        rc, _, err = await _cli("clear", oid, "-c", c)
        assert rc == 2


async def test_exit_code_3_within_the_timeout_when_no_daemon_answers(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    config = str(write_site(tmp_path, port=broker.port))
    started = time.monotonic()
    rc, _, err = await _cli("status", "-c", config, "--timeout", "1.5")
    assert rc == 3
    assert "no answer from gateway cabinet-0417" in err
    assert time.monotonic() - started < 6


async def test_tail_streams_telemetry_and_events(broker: MosquittoBroker, tmp_path: Path) -> None:
    config = str(write_site(tmp_path, port=broker.port))
    async with running_gateway(Path(config)) as gw:
        await gw.until(lambda: gw.daemon.mqtt.is_connected, 10)
        rc, out, err = await _cli(
            "tail", "-c", config, "--json", "--count", "3", "--duration", "20"
        )
        assert rc == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        assert len(lines) == 3
        assert all(line["topic"].startswith("streetlight/v1/cabinet-0417/") for line in lines)
        assert all(line["payload"]["boot_id"] == gw.daemon.boot_id for line in lines)
        rc, out, _ = await _cli("tail", "-c", config, "--topic", "telemetry/energy", "--count", "1")
        assert rc == 0
        assert out.startswith("telemetry/energy")


def test_lamp_and_cluster_ids_complete_from_the_config(tmp_path: Path) -> None:
    config = str(write_site(tmp_path, port=1))
    env = {
        "_STREETLIGHT_COMPLETE": "complete_bash",
        "COMP_WORDS": f"streetlight explain -c {config} art-02",
        "COMP_CWORD": "4",
    }
    result = run_cli(env=env)
    assert result.returncode == 0, result.stderr
    assert "art-020" in result.stdout
    assert "art-025" in result.stdout
    assert "res-001" not in result.stdout


async def test_tail_exits_3_when_the_broker_is_unreachable(tmp_path: Path) -> None:
    from tests.helpers.broker import free_port

    config = str(write_site(tmp_path, port=free_port()))
    rc, _, err = await _cli("tail", "-c", config, "--timeout", "1")
    assert rc == 3
    assert "cannot reach the broker" in err


LONG = "arterial-northbound-carriageway-"  # lamp ids longer than an 80-column table allows


async def _narrow(*args: str) -> tuple[int, str, str]:
    """The CLI on an 80-column terminal (or a pipe's default width)."""
    result = await asyncio.to_thread(run_cli, *args, env={"COLUMNS": "80"}, timeout=30)
    return result.returncode, result.stdout, result.stderr


async def test_status_says_why_and_lamps_show_the_reported_power_in_80_columns(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    """A cluster in fail-safe names its silent sensors and since when, a lamp whose lease
    lapsed is named, a failed lamp shows its reported power and fault, ids are never cut at
    80 columns, and times carry their zone."""
    from edge.replies import LampsResult, StatusResult

    path = write_site(tmp_path, port=broker.port)
    text = path.read_text().replace('id_prefix: "art-"', f'id_prefix: "{LONG}"')
    text = text.replace("stale_s: 300", "stale_s: 20").replace("lease_s: 90", "lease_s: 10")
    path.write_text(text.replace("lease_refresh_s: 30", "lease_refresh_s: 5"))
    c = str(path)
    async with running_gateway(path) as gw:
        await gw.until(lambda: gw.daemon.mqtt.is_connected and gw.daemon.stats.ticks > 3, 10)
        gw.fleet.fail(f"{LONG}003")
        gw.fleet.ignore_leases("res-004")
        states = gw.daemon.ingest.lamp_state

        def staged() -> bool:
            failed, deaf = states.get(f"{LONG}003"), states.get("res-004")
            return (failed is not None and failed.faults == ["lamp_failure"]
                    and deaf is not None and "failsafe" in deaf.faults
                    and bool(gw.daemon.controller.cluster_failsafe.all()))  # fmt: skip

        await gw.until(staged, 20, "a failed lamp, a lapsed lease, silent sensors")

        rc, out, err = await _narrow("status", "-c", c)
        assert rc == 0, err
        flat = " ".join(out.split())
        assert "fail-safe arterial: at its rated class M3, no dimming, because" in flat
        assert "sensor art-radar-west (serial radar-bus node 1) silent since 2026-11-28 23:" in flat
        assert " CET (" in flat  # the site's zone, not a bare local time
        assert "streetlight serial probe /dev/null-streetlight" in flat  # what to do
        assert "streetlight tail --topic 'sensor/+/counts'" in flat  # MQTT sensors: what to do
        assert flat.count("what to do") == 6  # one per kind of trouble and cluster, no more
        assert "lease lapsed residential: 1 lamp(s) (res-004)" in flat
        rc, out, _ = await _cli("status", "-c", c, "--json")
        status = StatusResult.model_validate_json(out)
        arterial = next(r for r in status.clusters if r.id == "arterial")
        assert {s.id for s in arterial.failsafe_sensors} == {
            "art-radar-west", "art-radar-mid", "art-radar-east"
        }  # fmt: skip
        assert all(s.problem == "silent" and s.silent_s > 20 for s in arterial.failsafe_sensors)
        residential = next(r for r in status.clusters if r.id == "residential")
        assert residential.lease_lapsed_ids == ["res-004"]

        rc, out, err = await _narrow("lamps", "-c", c, "--cluster", "arterial")
        assert rc == 0, err
        assert all(f"{LONG}{n:03d}" in out for n in range(1, 26))  # every id whole
        assert max(len(line) for line in out.splitlines()) <= 80
        assert "left out to fit 80 columns" in err
        row = next(line for line in out.splitlines() if f"{LONG}003" in line)
        assert "0.0 W" in row
        assert "lamp_failure" in row
        rc, out, _ = await _cli("lamps", "-c", c, "--cluster", "arterial", "--json")
        failed = next(x for x in LampsResult.model_validate_json(out).lamps
                      if x.id == f"{LONG}003")  # fmt: skip
        assert (failed.power_w, failed.reported_power_w) == (0.0, 0.0)
        assert failed.modelled_power_w > 0  # what the model would have said: not shown
        assert failed.faults == ["lamp_failure"]

        rc, out, err = await _cli(
            "override", "all", "--level", "1", "--op", "max", "--for", "1d", "-c", c, "--json"
        )
        assert rc == 0, err
        made = json.loads(out)["override"]
        assert made["expires_at"] - made["created_at"] == 86400
        rc, out, err = await _cli(
            "override", "residential", "--level", "0.9", "--for", "2h30m", "-c", c
        )
        assert rc == 0, err
        assert "for 2h30m, until 2026-11-29 0" in out
        assert out.rstrip().endswith("CET")
        rc, out, _ = await _narrow("overrides", "-c", c)
        assert out.count(" CET") == 2
        assert "ovr-" in out
