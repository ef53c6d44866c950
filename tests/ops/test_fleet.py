"""A fleet through real bridged mosquittos (simulator/harness/fleet.py), on a short scenario.

Three cabinets, each the real daemon on its own mosquitto with the shipped bridge.conf rendered
for its gateway_id, bridged through a fault proxy to one central mosquitto. Leases are 4 s, so
an outage longer than that would leave lamps without one if they depended on the uplink. One
cabinet's uplink is refused, then the central broker is killed (SIGKILL). Pass: no lamp lapses
to failsafe and leases keep coming in every cabinet; every record each daemon committed reaches
the centre after the link returns; the centre sees the cut cabinet's bridge go down and only
that one; a consumer subscribing afterwards gets one online status per gateway, with the boot
it is running; a command sent at the centre is answered by the gateway it names.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
import yaml

from simulator.harness.fleet import Fleet, FleetSpec, GatewayOutcome, bridge_conf
from simulator.harness.upstream import missing_seqs
from tests.conftest import run_cli

OUTAGE_S = 6.0  # longer than a lease: lamps that needed the uplink would lapse

SPEC = FleetSpec(
    gateways=3, lamps=20, telemetry_s=1.0, lease_s=4.0, lease_refresh_s=1.5,
    keepalive_s=5, restart_timeout="1 2",
)  # fmt: skip


def test_each_cabinet_bridges_its_own_topics_under_its_own_names() -> None:
    confs = {gw: bridge_conf(gw, "central:1883") for gw in ("gw-000", "gw-001")}
    for gw, text in confs.items():
        assert "cabinet-0417" not in text
        assert re.search(rf"(?m)^remote_clientid bridge-{gw}$", text)
        assert re.search(rf"(?m)^notification_topic streetlight/v1/{gw}/bridge/state$", text)
        prefixes = re.findall(r"(?m)^topic \S+ (?:in|out) 1 (\S+) (\S+)$", text)
        assert len(prefixes) == 5
        assert set(prefixes) == {(f"streetlight/v1/{gw}/", f"streetlight/v1/{gw}/")}
        assert not re.search(r"(?m)^bridge_(cafile|certfile|keyfile)", text)


def assert_rode_it_out(outcomes: list[GatewayOutcome]) -> None:
    for o in outcomes:
        assert o.max_lamps_without_lease == 0, o
        assert o.leases_during > 0, o
        assert o.missing == 0, o
        assert o.complete_after_s is not None, o


@pytest.mark.timeout(240)
async def test_a_fleet_keeps_its_leases_and_its_records_through_uplink_and_central_outages(
    tmp_path: Path,
) -> None:
    async with Fleet(tmp_path, SPEC) as fleet:
        cut = fleet.cabinets[1]
        uplink = await fleet.outage(
            cut=lambda: cut.uplink.set_mode("reset"),
            restore=lambda: cut.uplink.set_mode("pass"),
            seconds=OUTAGE_S, recover_timeout=30,
        )  # fmt: skip
        print("uplink cut:", *uplink, sep="\n  ")
        assert_rode_it_out(uplink)
        assert [o.bridge_down_seen for o in uplink] == [False, True, False]
        held = uplink[1]
        assert held.records_during > 0, held
        assert held.arrived_after >= held.records_during, held

        central = await fleet.outage(
            cut=fleet.central.kill, restore=fleet.central.start,
            seconds=OUTAGE_S, recover_timeout=30,
        )  # fmt: skip
        print("central killed:", *central, sep="\n  ")
        assert_rode_it_out(central)
        for o in central:
            assert o.records_during > 0, o
            assert o.arrived_after >= o.records_during, o

        statuses = await fleet.central_statuses()
        boots = {f"{c.root}/status": next(iter(c.committed())) for c in fleet.cabinets}
        assert {t: s.get("state") for t, s in statuses.items()} == dict.fromkeys(boots, "online")
        assert {t: s.get("boot_id") for t, s in statuses.items()} == boots

        # Commands come down the right bridge: each gateway answers for itself.
        for c in fleet.cabinets:
            doc = c.site.model_dump(mode="json")
            doc["mqtt"]["port"] = fleet.central.port
            at_centre = tmp_path / f"centre-{c.gateway_id}.yaml"
            at_centre.write_text(yaml.safe_dump(doc, sort_keys=False))
            ping = await asyncio.to_thread(run_cli, "ping", "-c", str(at_centre), "--json",
                                           timeout=30)  # fmt: skip
            assert ping.returncode == 0, ping.stderr
            assert json.loads(ping.stdout)["boot_id"] == boots[f"{c.root}/status"]

        assert await fleet.stop_daemons() == [0] * SPEC.gateways
        for c in fleet.cabinets:
            committed = c.committed()
            got = {b: fleet.received(b) for b in committed}
            assert c.undelivered() == 0, c.gateway_id
            assert missing_seqs(got, committed) == {}, c.gateway_id
