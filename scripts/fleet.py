#!/usr/bin/env python3
"""A fleet as a city runs one, on this machine: what the centre carries, and two outages.

    .venv/bin/python scripts/fleet.py [--gateways 4] [--lamps 200] [--seconds 60]
                                      [--outage 60] [--write]

N cabinets (simulator/harness/fleet.py), each the real `streetlight run` on a generated site
of its own, its own mosquitto bridged to one central mosquitto with the shipped
config/mosquitto/bridge.conf (rendered for its gateway_id, keepalive and backoff as shipped),
its lamps as lamp nodes that obey leases and fall back to failsafe when one lapses, its MQTT
sensors publishing a count every 10 s. Telemetry every 10 s per kind (the default is 60 s:
more records to count in a minute).

1. Steady state, `--seconds`: messages by kind at the central broker and at the cabinets'
   brokers, each daemon's CPU and RSS, the central broker's CPU.
2. One cabinet's uplink goes silent (a blackhole: no FIN, no RST) for `--outage` seconds.
3. The central broker is killed (SIGKILL) and started again `--outage` seconds later.

After each outage, by gateway: lamps without a lease, leases taken, records committed while
the link was down, how soon all of them were at the centre, duplicates. At the end: one
status per gateway for a consumer subscribing at the centre, and every record committed
accounted for. `--write` rewrites the fleet section of docs/scaling.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import aiomqtt  # noqa: E402

from scripts._benchdoc import machine_line, replace_section  # noqa: E402
from simulator.harness.daemonproc import cpu_seconds, scrape_metrics  # noqa: E402
from simulator.harness.fleet import Fleet, FleetSpec, GatewayOutcome  # noqa: E402
from simulator.harness.upstream import missing_seqs  # noqa: E402

TELEMETRY_S = 10.0
CITY_LAMPS, CITY_CABINETS = 100_000, 500


def _kind(topic: str) -> str:
    parts = topic.split("/")
    if "lamp" in parts:
        return {"set": "leases", "state": "lamp states"}.get(parts[-1], "other")
    if "sensor" in parts:
        return "sensor counts"
    if "telemetry" in parts:
        return "telemetry"
    if parts[-2:] == ["bridge", "state"]:
        return "bridge state"
    return {"event": "events", "status": "status"}.get(parts[-1], "other")


async def count(port: int, counts: Counter[str]) -> None:
    async with aiomqtt.Client("127.0.0.1", port, max_queued_incoming_messages=0) as client:
        await client.subscribe("streetlight/#", qos=0)
        async for m in client.messages:
            if not m.retain:
                counts[_kind(m.topic.value)] += 1


async def steady(fleet: Fleet, seconds: float) -> dict[str, Any]:
    central: Counter[str] = Counter()
    cabinets: Counter[str] = Counter()
    tasks = [asyncio.create_task(count(fleet.central.port, central), name="count central")]
    tasks += [
        asyncio.create_task(count(c.broker.port, cabinets), name=f"count {c.gateway_id}")
        for c in fleet.cabinets
    ]
    await asyncio.sleep(1)
    central.clear()
    cabinets.clear()
    cpu0 = [c.daemon.cpu_s() for c in fleet.cabinets]
    bcpu0, t0 = cpu_seconds(fleet.central.pid), time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - t0
    snap_central, snap_cabinets = dict(central), dict(cabinets)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "seconds": elapsed,
        "central": {k: v / elapsed for k, v in sorted(snap_central.items())},
        "cabinets": {k: v / elapsed for k, v in sorted(snap_cabinets.items())},
        "cpu": [(c.daemon.cpu_s() - u) / elapsed for c, u in zip(fleet.cabinets, cpu0,
                                                                 strict=True)],
        "rss_mb": [c.daemon.rss_kib() / 1024 for c in fleet.cabinets],
        "broker_cpu": (cpu_seconds(fleet.central.pid) - bcpu0) / elapsed,
        "series": sum(len(v) for v in scrape_metrics(fleet.cabinets[0].site.metrics.port).values()),
    }  # fmt: skip


async def run(a: argparse.Namespace) -> dict[str, Any]:
    spec = FleetSpec(gateways=a.gateways, lamps=a.lamps, telemetry_s=TELEMETRY_S)
    with tempfile.TemporaryDirectory(prefix="streetlight-fleet-") as tmp:
        async with Fleet(Path(tmp), spec) as fleet:
            print(f"fleet: {a.gateways} cabinets up; steady state for {a.seconds:g} s", flush=True)
            load = await steady(fleet, a.seconds)
            cut = fleet.cabinets[min(1, len(fleet.cabinets) - 1)]
            print(f"fleet: {cut.gateway_id}'s uplink silent for {a.outage:g} s", flush=True)
            uplink = await fleet.outage(
                cut=lambda: cut.uplink.set_mode("blackhole"),
                restore=lambda: cut.uplink.set_mode("pass"), seconds=a.outage,
            )  # fmt: skip
            print(f"fleet: central broker killed for {a.outage:g} s", flush=True)
            central = await fleet.outage(
                cut=fleet.central.kill, restore=fleet.central.start, seconds=a.outage
            )
            statuses = await fleet.central_statuses()
            replayed = [c.metrics()["outbox_replayed_total"] for c in fleet.cabinets]
            codes = await fleet.stop_daemons()
            final = []
            for c in fleet.cabinets:
                committed = c.committed()
                got = {b: fleet.received(b) for b in committed}
                final.append({
                    "gateway": c.gateway_id, "committed": sum(s + 1 for s in committed.values()),
                    "received": sum(map(len, got.values())),
                    "missing": sum(map(len, missing_seqs(got, committed).values())),
                    "undelivered": c.undelivered(),
                    "duplicates": fleet.consumer.duplicates_by_root[c.root],
                })  # fmt: skip
    online = sorted(t.split("/")[2] for t, s in statuses.items() if s.get("state") == "online")
    return {
        "spec": spec, "load": load, "cut": cut.gateway_id, "uplink": uplink, "central": central,
        "statuses": len(statuses), "online": online, "final": final, "replayed": replayed,
        "exit_codes": codes,
    }  # fmt: skip


def outcome_table(rows: list[GatewayOutcome]) -> list[str]:
    lines = [
        "| gateway | lamps without a lease (most at once) | leases taken | records committed "
        "while down | at the centre after the return | missing | duplicates | complete after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for o in rows:
        done = "not within 180 s" if o.complete_after_s is None else f"{o.complete_after_s:.1f} s"
        mark = " (bridge seen down)" if o.bridge_down_seen else ""
        lines.append(
            f"| {o.gateway_id}{mark} | {o.max_lamps_without_lease} | {o.leases_during:,} | "
            f"{o.records_during} | {o.arrived_after} | {o.missing} | {o.duplicates} | {done} |"
        )
    return lines


def table(r: dict[str, Any], a: argparse.Namespace, cmd: str) -> str:
    spec, load = r["spec"], r["load"]
    g, cpu, rss = spec.gateways, load["cpu"], load["rss_mb"]
    lamps = g * spec.lamps
    kinds = sorted(set(load["central"]) | set(load["cabinets"]))
    lines = [
        machine_line(), "", f"Command: `{cmd}`", "",
        f"{g} cabinets x {spec.lamps} lamps, each its own mosquitto bridged to one central "
        f"mosquitto (bridge.conf as shipped: keepalive 30 s, restart_timeout 2 60), telemetry "
        f"every {TELEMETRY_S:g} s per kind; steady state over {load['seconds']:.0f} s:", "",
        "| message kind | at the central broker, msg/s | on the cabinets' brokers, msg/s |",
        "|---|---:|---:|",
        *(f"| {k} | {load['central'].get(k, 0):,.2f} | {load['cabinets'].get(k, 0):,.2f} |"
          for k in kinds),
        f"| **all** | **{sum(load['central'].values()):,.2f}** | "
        f"**{sum(load['cabinets'].values()):,.1f}** |", "",
        f"Per daemon: CPU {min(cpu):.1%}-{max(cpu):.1%} of one core, RSS "
        f"{min(rss):.0f}-{max(rss):.0f} MB; central mosquitto {load['broker_cpu']:.2%} of a "
        f"core; {load['series']} Prometheus series per gateway.", "",
        f"### {r['cut']}'s uplink silent (blackhole) for {a.outage:g} s", "",
        *outcome_table(r["uplink"]), "",
        f"### The central broker killed (SIGKILL) for {a.outage:g} s", "",
        *outcome_table(r["central"]), "",
        "### At the end", "",
        f"A consumer subscribing to `streetlight/v1/+/status` at the centre got {r['statuses']} "
        f"retained statuses, online: {', '.join(r['online'])}. After SIGTERM (exit codes "
        f"{r['exit_codes']}):", "",
        "| gateway | records committed | at the centre | missing | left in the outbox "
        "| duplicates at the centre | sent again by the outbox |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(f"| {f['gateway']} | {f['committed']} | {f['received']} | {f['missing']} | "
          f"{f['undelivered']} | {f['duplicates']} | {n:g} |"
          for f, n in zip(r["final"], r["replayed"], strict=True)),
        "", *projection(r, lamps),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def projection(r: dict[str, Any], lamps: int) -> list[str]:
    """A city of 100k lamps on 500 cabinets, from the measured rates (arithmetic)."""
    load, g = r["load"], r["spec"].gateways
    up = sum(load["central"].get(k, 0.0) for k in ("telemetry", "events", "status")) / g
    up_60 = up * TELEMETRY_S / 60.0  # telemetry dominates: at the default interval
    lease = load["cabinets"].get("leases", 0.0) / lamps
    series = load["series"]
    return [
        f"A city of {CITY_LAMPS:,} lamps on {CITY_CABINETS} cabinets (arithmetic from these "
        "figures):", "",
        "| what | arithmetic | figure |", "|---|---|---:|",
        f"| bridged up to the centre, telemetry every {TELEMETRY_S:g} s | {up:.3f} msg/s x "
        f"{CITY_CABINETS} | {up * CITY_CABINETS:,.0f} msg/s |",
        f"| the same at the default 60 s | {up_60:.3f} msg/s x {CITY_CABINETS} | "
        f"{up_60 * CITY_CABINETS:,.0f} msg/s |",
        f"| leases (stay in the cabinets) | {lease:.3f}/lamp/s x {CITY_LAMPS:,} | "
        f"{lease * CITY_LAMPS:,.0f} msg/s, over {CITY_CABINETS} brokers |",
        f"| central broker connections | 1 bridge per cabinet (+ consumers) | {CITY_CABINETS} |",
        f"| Prometheus series | {series} per gateway x {CITY_CABINETS} | "
        f"{series * CITY_CABINETS:,} |",
    ]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--gateways", type=int, default=4)
    ap.add_argument("--lamps", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=60.0, help="steady-state window")
    ap.add_argument("--outage", type=float, default=60.0, help="each outage, seconds")
    ap.add_argument("--write", action="store_true", help="update docs/scaling.md")
    a = ap.parse_args()
    if a.gateways < 2:
        ap.error("--gateways: at least 2 (one has its uplink cut, the others keep theirs)")
    result = asyncio.run(run(a))
    cmd = (
        f"scripts/fleet --gateways {a.gateways} --lamps {a.lamps} --seconds {a.seconds:g} "
        f"--outage {a.outage:g}" + (" --write" if a.write else "")
    )
    text = table(result, a, cmd)
    print(text)
    if a.write:
        replace_section(REPO / "docs" / "scaling.md", "fleet", "Measured: a fleet", text)


if __name__ == "__main__":
    main()
