"""The shipped bridge (config/mosquitto/bridge.conf) between two real brokers.

A cabinet broker bridges to a central broker through a TCP fault proxy. The daemon runs on the
cabinet broker with `mqtt.upstream_state_topic` set to the bridge's notification topic; a
recorder on the central broker keeps every record by (boot_id, seq). Pass: telemetry and
status reach the central broker, a CLI command sent at the central broker is answered by the
daemon, and two outages (a blackhole the bridge has to time out on, then a central broker
restart) lose no record.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from pathlib import Path

import pytest
import yaml

from simulator.harness.daemonproc import DaemonProcess, metric, scrape_metrics
from simulator.harness.faultproxy import FaultProxy
from simulator.harness.fleet import bridge_conf as shipped_bridge
from simulator.harness.upstream import Upstream, missing_seqs
from tests.conftest import REPO, run_cli
from tests.helpers.broker import MosquittoBroker, free_port
from tests.helpers.gateway import write_site

ROOT = "streetlight/v1/cabinet-0417"
BRIDGE_KEEPALIVE = 5


def bridge_conf(address: str) -> str:
    """The shipped bridge.conf, pointed at ``address`` over plain TCP, with a short keepalive."""
    return shipped_bridge("cabinet-0417", address, keepalive_s=BRIDGE_KEEPALIVE,
                          restart_timeout="1 2")  # fmt: skip


def test_the_shipped_bridge_sends_telemetry_up_and_commands_down_only() -> None:
    text = (REPO / "config" / "mosquitto" / "bridge.conf").read_text()
    topics = re.findall(r"(?m)^topic (\S+) (in|out|both) (\d) (\S+) (\S+)$", text)
    up = {lp + t for t, d, _, lp, _ in topics if d == "out"}
    down = {lp + t for t, d, _, lp, _ in topics if d == "in"}
    assert up == {f"{ROOT}/telemetry/#", f"{ROOT}/event", f"{ROOT}/status", f"{ROOT}/reply/#"}
    assert down == {f"{ROOT}/cmd/#"}
    assert all(q == "1" for _, _, q, _, _ in topics)
    # the same topics at the centre: the CLI there gets its replies under the gateway's root
    assert all(lp == rp == f"{ROOT}/" for *_, lp, rp in topics)
    assert re.search(r"(?m)^cleansession true$", text)
    assert re.search(r"(?m)^local_cleansession true$", text)
    assert not re.search(r"(?m)^remote_password ", text), "no default secret ships"


@pytest.mark.timeout(180)
async def test_through_the_bridge_nothing_is_lost_across_a_blackhole_and_a_broker_restart(
    tmp_path: Path,
) -> None:
    central = MosquittoBroker(tmp_path / "central", persistent=True)
    central.start()
    proxy = FaultProxy(central.host, central.port)
    await proxy.start()
    cabinet = MosquittoBroker(
        tmp_path / "cabinet", extra_conf=bridge_conf(f"127.0.0.1:{proxy.port}")
    )
    cabinet.start()

    config = write_site(tmp_path, port=cabinet.port)
    data = yaml.safe_load(config.read_text())
    data["mqtt"]["upstream_state_topic"] = f"{ROOT}/bridge/state"
    data["mqtt"]["upstream_replay_s"] = 60  # wall seconds: longer than the blackhole
    data["telemetry"] = {"energy_s": 2, "traffic_s": 2}
    data["metrics"]["port"] = metrics_port = free_port()
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    cli_config = tmp_path / "central-cli.yaml"  # the engineer's laptop, on the central broker
    data["mqtt"]["port"] = central.port
    cli_config.write_text(yaml.safe_dump(data, sort_keys=False))

    daemon = DaemonProcess(
        config, log_path=tmp_path / "daemon.log", virtual_start="2026-11-28T23:30", speed=10
    )
    try:
        async with Upstream(central.host, central.port, ROOT) as up:
            await daemon.start()

            async def records_beyond(n: int, timeout: float) -> None:
                async with asyncio.timeout(timeout):
                    while len(up.records) < n:
                        await asyncio.sleep(0.1)

            await records_beyond(5, 20)
            assert any(s.get("state") == "online" for _, s in up.status), "status crossed"

            # A command sent at the central broker reaches the daemon; its reply comes back.
            ping = await asyncio.to_thread(run_cli, "ping", "-c", str(cli_config), "--json",
                                           timeout=30)  # fmt: skip
            assert ping.returncode == 0, ping.stderr
            online = [s["boot_id"] for _, s in up.status if s.get("state") == "online"]
            assert json.loads(ping.stdout)["boot_id"] == online[-1]

            def lost_so_far() -> dict[str, list[int]]:
                # Everything up to the newest record that crossed: later ones may be in flight.
                return missing_seqs(up.boots(), {})

            async def nothing_missing(timeout: float) -> None:
                for _ in range(int(timeout * 5)):
                    if not lost_so_far():
                        return
                    await asyncio.sleep(0.2)
                sc = scrape_metrics(metrics_port)
                raise AssertionError(
                    f"lost through the bridge: {lost_so_far()}, {up.duplicates} dup, "
                    f"depth {metric(sc, 'streetlight_outbox_depth')} "
                    f"up {metric(sc, 'streetlight_upstream_up')}"
                )

            # Outage 1: the backhaul goes silent (no FIN, no RST). The bridge times out on it
            # and says nothing; its "1" on reconnecting makes the daemon send recent records
            # again.
            proxy.set_mode("blackhole")
            await asyncio.sleep(3 * BRIDGE_KEEPALIVE)
            proxy.set_mode("pass")
            await records_beyond(len(up.records) + 5, 30)
            await nothing_missing(20)

            # Outage 2: the central broker restarts (persistence on: the recorder's session
            # stays). The bridge says "0": the drain pauses and recent records go again.
            central.stop()
            await asyncio.sleep(3)
            central.start()
            await records_beyond(len(up.records) + 5, 30)
            await nothing_missing(20)

            # Records the daemon published before the bridge's "0" reached it cross once the
            # bridge is back, maybe before its "1" does: wait for the daemon to see it up.
            for _ in range(150):
                scrape = scrape_metrics(metrics_port)
                if metric(scrape, "streetlight_upstream_up") == 1.0:
                    break
                await asyncio.sleep(0.2)
            replayed = metric(scrape, "streetlight_outbox_replayed_total")
            assert metric(scrape, "streetlight_upstream_up") == 1.0
            assert await daemon.stop() == 0  # SIGTERM: the final drain
            await asyncio.sleep(2)  # the last records cross the bridge
    finally:
        await daemon.kill()
        await proxy.stop()
        cabinet.stop()
        central.stop()

    db = sqlite3.connect(tmp_path / "state" / "outbox.db")
    pending = db.execute("SELECT count(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0]
    committed = dict(db.execute("SELECT boot_id, max(seq) FROM outbox GROUP BY boot_id"))
    db.close()
    assert pending == 0, "records left undelivered at shutdown"
    (boot,) = up.boots()
    lost = missing_seqs(up.boots(), committed)
    print(
        f"bridge: {len(up.records)} records, {len(lost.get(boot, []))} lost, "
        f"{up.duplicates} duplicates, {replayed:g} replayed"
    )
    assert lost == {}
