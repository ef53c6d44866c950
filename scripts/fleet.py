#!/usr/bin/env python3
"""N gateway daemons against one central broker on this machine: what the centre must carry.

    .venv/bin/python scripts/fleet.py [--gateways 10] [--lamps 300] [--seconds 60] [--write]

Each gateway is the real `streetlight run` (a child process, real time, production controller
settings) on a generated site of its own, connected straight to one private mosquitto (the
central broker; in production each cabinet bridges to it and leases stay in the cabinet).
Every MQTT sensor publishes a count every 10 s, as the contract asks of sensors. A subscriber
on the central broker counts messages by kind over the window; each daemon's CPU and RSS and
the broker's CPU are read from /proc. `--write` rewrites the fleet section of
docs/scaling.md, including the projection to a city (arithmetic from these figures).
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

from edge.config import SiteConfig, parse_config  # noqa: E402
from scripts._benchdoc import machine_line, replace_section  # noqa: E402
from scripts.bench_daemon import mqtt_sensors, start_daemon  # noqa: E402
from simulator.harness.broker import MosquittoBroker, free_port  # noqa: E402
from simulator.harness.daemonproc import DaemonProcess, cpu_seconds, scrape_metrics  # noqa: E402
from simulator.sites import generate_site  # noqa: E402

SENSOR_PERIOD_S = 10.0  # docs/mqtt.md: sensors publish every 10 s, zeros included
CITY_LAMPS, CITY_CABINETS = 100_000, 500


def fleet_site(i: int, lamps: int, port: int, work: Path) -> SiteConfig:
    doc = generate_site(lamps=lamps, gateway_id=f"gw-{i:03d}", mqtt_port=port)
    doc["storage"] = {"state_dir": str(work / f"gw-{i:03d}")}
    doc["metrics"] = {"enabled": True, "host": "127.0.0.1", "port": free_port()}
    doc["log_level"] = "WARNING"
    return parse_config(doc)


def _kind(topic: str) -> str:
    parts = topic.split("/")
    if "lamp" in parts and parts[-1] == "set":
        return "leases"
    if "sensor" in parts:
        return "sensor counts"
    if "telemetry" in parts:
        return "telemetry"
    return {"event": "events", "status": "status"}.get(parts[-1], "other")


async def count_central(port: int, counts: Counter[str], stop: asyncio.Event) -> None:
    async with aiomqtt.Client("127.0.0.1", port, max_queued_incoming_messages=0) as client:
        await client.subscribe("streetlight/#", qos=0)
        async for m in client.messages:
            if stop.is_set():
                return
            counts[_kind(m.topic.value)] += 1


async def run(gateways: int, lamps: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="streetlight-fleet-") as tmp:
        work = Path(tmp)
        broker = MosquittoBroker(work / "central", extra_conf="max_inflight_messages 1000\n")
        broker.start()
        daemons: list[DaemonProcess] = []
        load: asyncio.subprocess.Process | None = None
        try:
            sites = [fleet_site(i, lamps, broker.port, work) for i in range(gateways)]
            daemons = list(await asyncio.gather(*(start_daemon(s, work) for s in sites)))
            topics = [
                f"{s.topic_root}/sensor/{sensor}/counts"
                for s in sites
                for sensor in mqtt_sensors(s)
            ]
            rate = len(topics) / SENSOR_PERIOD_S
            load = await asyncio.create_subprocess_exec(
                sys.executable, str(REPO / "scripts" / "bench_daemon.py"), "load",
                str(broker.port), f"{rate:g}", *topics, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            assert load.stdout is not None
            await load.stdout.readline()  # "ready"
            await asyncio.sleep(15)  # settle: first leases, first telemetry
            counts: Counter[str] = Counter()
            stop = asyncio.Event()
            counter = asyncio.create_task(count_central(broker.port, counts, stop))
            await asyncio.sleep(1)
            counts.clear()
            cpu0 = [d.cpu_s() for d in daemons]
            bpid = broker._proc.pid  # type: ignore[union-attr]
            bcpu0, t0 = cpu_seconds(bpid), time.monotonic()
            await asyncio.sleep(seconds)
            elapsed = time.monotonic() - t0
            snapshot = dict(counts)
            cpu = [(d.cpu_s() - c) / elapsed for d, c in zip(daemons, cpu0, strict=True)]
            broker_cpu = (cpu_seconds(bpid) - bcpu0) / elapsed
            rss = [d.rss_kib() / 1024 for d in daemons]
            series = sum(len(v) for v in scrape_metrics(sites[0].metrics.port).values())
            stop.set()
            counter.cancel()
        finally:
            if load is not None and load.returncode is None:
                load.kill()
                await load.wait()
            for d in daemons:
                await d.stop()
            broker.stop()
    sensors = sum(len(mqtt_sensors(s)) for s in sites)
    return {
        "gateways": gateways, "lamps": lamps, "seconds": round(elapsed, 1), "sensors": sensors,
        "per_kind_s": {k: v / elapsed for k, v in sorted(snapshot.items())},
        "central_msg_s": sum(snapshot.values()) / elapsed,
        "cpu_core": cpu, "rss_mb": rss, "broker_cpu_core": broker_cpu,
        "series_per_gateway": series,
    }  # fmt: skip


def projection(r: dict[str, Any]) -> list[str]:
    """A city of 100k lamps on ~500 cabinets, from the measured per-gateway rates."""
    g = r["gateways"]
    per_kind = {k: v / g for k, v in r["per_kind_s"].items()}
    up = sum(per_kind.get(k, 0.0) for k in ("telemetry", "events", "status"))
    lamps_per_cab = CITY_LAMPS / CITY_CABINETS
    lease_per_lamp = per_kind.get("leases", 0.0) / r["lamps"]
    sensor_per_gw = per_kind.get("sensor counts", 0.0)
    series = r["series_per_gateway"]
    return [
        f"Per gateway ({r['lamps']} lamps), measured: {per_kind.get('leases', 0):.1f} leases/s "
        f"({lease_per_lamp:.3f} per lamp), {sensor_per_gw:.1f} sensor counts/s, {up:.3f} "
        f"telemetry + event + status msg/s, {series} Prometheus series.",
        "",
        f"A city of {CITY_LAMPS:,} lamps on {CITY_CABINETS} cabinets ({lamps_per_cab:.0f} lamps "
        "each), each cabinet bridged to the centre (config/mosquitto/bridge.conf):",
        "",
        "| what | arithmetic | figure |",
        "|---|---|---:|",
        f"| bridged up to the centre | {up:.3f} msg/s x {CITY_CABINETS} | "
        f"{up * CITY_CABINETS:,.0f} msg/s |",
        f"| leases (stay in the cabinets) | {lease_per_lamp:.3f}/lamp/s x {CITY_LAMPS:,} | "
        f"{lease_per_lamp * CITY_LAMPS:,.0f} msg/s, spread over {CITY_CABINETS} brokers |",
        f"| everything through one broker (no bridges, the worst case) | "
        f"{r['central_msg_s'] / g:.1f} msg/s per {r['lamps']}-lamp gateway x "
        f"{CITY_LAMPS / r['lamps']:,.0f} | {r['central_msg_s'] / g * CITY_LAMPS / r['lamps']:,.0f} "
        "msg/s |",
        f"| central broker connections | 1 bridge per cabinet (+ consumers) | {CITY_CABINETS} |",
        f"| Prometheus series | {series} per gateway x {CITY_CABINETS} | "
        f"{series * CITY_CABINETS:,} |",
        f"| Prometheus samples/s at 15 s scrape | {series * CITY_CABINETS:,} / 15 | "
        f"{series * CITY_CABINETS / 15:,.0f} |",
    ]  # fmt: skip


def table(r: dict[str, Any], cmd: str) -> str:
    cpu, rss = r["cpu_core"], r["rss_mb"]
    lines = [
        machine_line(), "", f"Command: `{cmd}`", "",
        f"{r['gateways']} gateway daemons x {r['lamps']} lamps ({r['sensors']} MQTT sensors, a "
        f"count each every {SENSOR_PERIOD_S:g} s) against one central mosquitto, "
        f"{r['seconds']:g} s window:", "",
        "| message kind at the central broker | msg/s |", "|---|---:|",
    ]  # fmt: skip
    lines += [f"| {k} | {v:,.2f} |" for k, v in r["per_kind_s"].items()]
    lines += [
        f"| **all** | **{r['central_msg_s']:,.1f}** |", "",
        "| per gateway | min | mean | max |", "|---|---:|---:|---:|",
        f"| CPU (share of one core) | {min(cpu):.1%} | {sum(cpu) / len(cpu):.1%} "
        f"| {max(cpu):.1%} |",
        f"| RSS (MB) | {min(rss):.1f} | {sum(rss) / len(rss):.1f} | {max(rss):.1f} |", "",
        f"Central mosquitto: {r['broker_cpu_core']:.1%} of one core.", "",
        *projection(r),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--gateways", type=int, default=10)
    ap.add_argument("--lamps", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--write", action="store_true", help="update docs/scaling.md")
    a = ap.parse_args()
    result = asyncio.run(run(a.gateways, a.lamps, a.seconds))
    cmd = f"scripts/fleet --gateways {a.gateways} --lamps {a.lamps} --seconds {a.seconds:g}" + (
        " --write" if a.write else ""
    )
    text = table(result, cmd)
    print(text)
    if a.write:
        replace_section(
            REPO / "docs" / "scaling.md", "fleet", "Measured: a fleet on one machine", text
        )


if __name__ == "__main__":
    main()
