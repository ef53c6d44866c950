"""The daemon benchmark's parts: a generated site, the real daemon on it, and the helper
processes (subscribers to compare with, background load) it is measured beside."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from edge.config import SiteConfig, parse_config
from simulator.harness.broker import free_port
from simulator.harness.daemonproc import DaemonProcess, metric, scrape_metrics, write_config
from simulator.sites import generate_site

#: the script whose roles ``helper`` starts
SCRIPT = Path(__file__).with_name("bench_daemon.py")

NIGHT = "2026-11-28T23:30"  # UTC at the generated site: dark
ZERO_COUNTS = b'{"v":1,"interval_s":10}'  # a valid count of nobody: load without traffic
BROKER_CONF = """listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 2000000
max_inflight_messages 1000
set_tcp_nodelay true
"""


def bench_site(
    lamps: int, port: int, work: Path, *, gateway: str, lease_topic: str = "lamp",
    **controller: Any,
) -> SiteConfig:  # fmt: skip
    doc = generate_site(lamps=lamps, gateway_id=gateway, mqtt_port=port)
    doc["mqtt"] = {**doc["mqtt"], "lease_topic": lease_topic}
    ctrl = {
        "flow_window_s": 60, "flow_bins": 6, "ramp_down_per_s": 1.0,
        # presence lifts to the rated class on every road (the probe waits for a full lease)
        "presence": {"m_steps_up": 5, "pc_level": 1.0, "lead_s": 8, "min_lamps_ahead": 3,
                     "behind_m": 30, "hold_s": 2, "track_s": 0},
        **controller,
    }  # fmt: skip
    doc["controller"] = ctrl
    doc["storage"] = {"state_dir": str(work / gateway)}
    doc["metrics"] = {"enabled": True, "host": "127.0.0.1", "port": free_port()}
    doc["log_level"] = "WARNING"
    doc["security"] = {"commands_per_s": 100, "command_burst": 100}
    return parse_config(doc)


async def start_daemon(site: SiteConfig, work: Path) -> DaemonProcess:
    config = write_config(site, work / f"{site.gateway_id}.yaml")
    daemon = DaemonProcess(config, log_path=work / f"{site.gateway_id}.log",
                           virtual_start=NIGHT, speed=1.0)  # fmt: skip
    await daemon.start()
    async with asyncio.timeout(120):
        while True:
            with contextlib.suppress(OSError):  # the metrics endpoint is not up yet
                m = await asyncio.to_thread(scrape_metrics, site.metrics.port)
                if metric(m, "streetlight_mqtt_connected") == 1:
                    return daemon
            await asyncio.sleep(0.2)


def mqtt_sensors(site: SiteConfig) -> list[str]:
    return [s.id for c in site.clusters for s in c.sensors if s.source == "mqtt"]


async def helper(*args: str) -> asyncio.subprocess.Process:
    """This script in another role, as its own process (so it gets its own core's share)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), *args, stdout=asyncio.subprocess.PIPE
    )


# --------------------------------------------------------------------------- roles
async def role_bare_sub(port: int, topic: str, expect: int) -> None:
    """Count messages until ``expect`` arrived or 5 s of silence; print first/last times."""
    import aiomqtt

    n, first, last = 0, 0.0, 0.0
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5,
                              max_queued_incoming_messages=0) as client:  # fmt: skip
        await client.subscribe(topic, qos=1)
        print("ready", flush=True)
        with contextlib.suppress(TimeoutError):  # fewer came than expected: count those
            async with asyncio.timeout(120):
                async for _ in client.messages:
                    last = time.monotonic()
                    first = first or last
                    n += 1
                    if n >= expect:
                        break
    print(json.dumps({"n": n, "first": first, "last": last}), flush=True)


def role_paho_sub(port: int, topic: str, expect: int) -> None:
    """The floor under any asyncio client: paho's own loop, counting in its callback."""
    import paho.mqtt.client as paho

    state = {"n": 0, "first": 0.0, "last": 0.0}

    def on_message(client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        state["last"] = time.monotonic()
        state["first"] = state["first"] or state["last"]
        state["n"] += 1
        if state["n"] >= expect:
            client.disconnect()

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe(topic, qos=1)
    client.loop(1.0)
    client.loop(1.0)  # the SUBACK
    print("ready", flush=True)
    deadline = time.monotonic() + 120
    while state["n"] < expect and time.monotonic() < deadline:
        if state["n"] and time.monotonic() - state["last"] > 5:
            break
        client.loop(0.5)
    print(json.dumps(state), flush=True)


async def role_load(port: int, rate: float, topics: list[str]) -> None:
    """Publish zero-count messages at ``rate``/s round-robin over ``topics`` until killed."""
    import paho.mqtt.client as paho

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    print("ready", flush=True)
    t0, k = time.monotonic(), 0
    while True:
        due = int((time.monotonic() - t0) * rate)
        while k < due:
            client.publish(topics[k % len(topics)], ZERO_COUNTS, qos=0)
            k += 1
        await asyncio.sleep(0.005)
