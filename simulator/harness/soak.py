"""The soak: the real daemon (a child process) on the example site for a long time, with the
broker flapping, and what it costs: RSS growth, CPU, records lost, errors. ``scripts/soak``.

The street around it is the demo's: MQTT lamp nodes, MQTT sensors and a fake serial sensor node
on a pty, on a virtual clock ``speed`` times real time starting at 18:00 on a winter evening
(the whole run is night). The broker keeps sessions on disk, so the upstream recorder (a
persistent session) sees every record the broker accepted; records are deduplicated by
(boot_id, seq).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from edge.clock import Clock
from edge.config import SiteConfig, load_config
from simulator.harness.broker import MosquittoBroker, free_port
from simulator.harness.daemonproc import DaemonProcess, metric, scrape_metrics, write_config
from simulator.harness.demo import demo_site, street_rig
from simulator.harness.firmware import FakeNode
from simulator.harness.live import LampFleet, LiveStreet
from simulator.harness.upstream import Upstream, missing_seqs
from simulator.traffic import generate_arrivals

__all__ = ["run_soak"]

WARMUP_S = 60.0


async def run_soak(
    config: Path,
    *,
    minutes: float,
    speed: float = 10.0,
    flap_every_s: float = 120.0,
    down_s: float = 10.0,
    seed: int = 1,
    progress: Any = None,
) -> dict[str, Any]:
    """Run for ``minutes`` of real time; the figures as a dict."""
    async with street_rig("streetlight-soak-", persistent=True) as (work, broker, fd, device):
        return await _soak(
            config, work, broker, fd, device, minutes=minutes, speed=speed,
            flap_every_s=flap_every_s, down_s=down_s, seed=seed, progress=progress,
        )  # fmt: skip


async def _soak(
    config: Path,
    work: Path,
    broker: MosquittoBroker,
    node_fd: int,
    device: str,
    *,
    minutes: float,
    speed: float,
    flap_every_s: float,
    down_s: float,
    seed: int,
    progress: Any,
) -> dict[str, Any]:
    base = load_config(config)
    site = demo_site(base, port=broker.port, device=device, state_dir=work / "state")
    metrics_port = free_port()
    site = site.model_copy(
        update={"metrics": site.metrics.model_copy(update={"port": metrics_port})}
    )
    tz = site.site.zone
    start_dt = datetime(2026, 12, 15, 18, 0, tzinfo=tz)
    start = start_dt.timestamp()
    duration = minutes * 60.0
    daemon = DaemonProcess(
        write_config(site, work / "site.yaml"), log_path=work / "daemon.log",
        virtual_start=start_dt.replace(tzinfo=None).isoformat(), speed=speed,
    )  # fmt: skip
    clock = Clock(speed=speed, start=start)
    fleet = LampFleet(site, host=broker.host, port=broker.port, clock=clock)
    node = FakeNode(node=1)
    arrivals = generate_arrivals(site, start=start, duration_s=duration * speed + 60, seed=seed)
    street = LiveStreet(
        site, host=broker.host, port=broker.port, clock=clock, arrivals=arrivals, start=start,
        serial_nodes={p.name: node for p in site.serial}, seed=seed,
    )  # fmt: skip
    await daemon.start()
    try:
        return await _drive(
            daemon, broker, site, fleet, node, node_fd, street, metrics_port, duration=duration,
            speed=speed, flap_every_s=flap_every_s, down_s=down_s, minutes=minutes,
            progress=progress,
        )  # fmt: skip
    finally:
        await daemon.kill()  # only if still running: an interrupted soak leaves no daemon


async def _drive(
    daemon: DaemonProcess,
    broker: MosquittoBroker,
    site: SiteConfig,
    fleet: LampFleet,
    node: FakeNode,
    node_fd: int,
    street: LiveStreet,
    metrics_port: int,
    *,
    duration: float,
    speed: float,
    flap_every_s: float,
    down_s: float,
    minutes: float,
    progress: Any,
) -> dict[str, Any]:
    samples: list[tuple[float, int, float]] = []  # (t, rss KiB, cpu s)
    below_floor_lamp_s = 0.0
    flaps = 0
    began = time.monotonic()
    async with Upstream(broker.host, broker.port, site.topic_root, client_id="soak-up") as up:
        tasks = [
            asyncio.create_task(fleet.run(), name="soak-lamps"),
            asyncio.create_task(node.serve_pty(node_fd), name="soak-node"),
            asyncio.create_task(street.run(), name="soak-street"),
        ]
        try:
            next_flap = began + flap_every_s
            next_sample = began
            last = time.monotonic()
            while (now := time.monotonic()) - began < duration:
                await asyncio.sleep(0.5)
                dt, last = now - last, now
                below_floor_lamp_s += (
                    float(np.count_nonzero(fleet.nodes.output < fleet.floor - 1e-9)) * dt * speed
                )
                if now >= next_sample:
                    samples.append((now - began, daemon.rss_kib(), daemon.cpu_s()))
                    next_sample += 10.0
                    if progress is not None:
                        progress(now - began, duration, samples[-1][1], flaps)
                if flap_every_s > 0 and now >= next_flap:
                    await asyncio.to_thread(broker.stop)
                    await asyncio.sleep(down_s)
                    await asyncio.to_thread(broker.start)
                    flaps += 1
                    next_flap = time.monotonic() + flap_every_s
            scrape = await asyncio.to_thread(scrape_metrics, metrics_port)
            exit_code = await daemon.stop(timeout_s=30)
            await asyncio.sleep(2.0)  # the last records reach the recorder
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return _report(
        daemon, up, scrape, samples, exit_code=exit_code, flaps=flaps, minutes=minutes,
        speed=speed, flap_every_s=flap_every_s, down_s=down_s,
        below_floor_lamp_s=below_floor_lamp_s, users=street.stats.users, leases=fleet.leases,
    )  # fmt: skip


def _report(
    daemon: DaemonProcess,
    up: Upstream,
    scrape: dict[str, Any],
    samples: list[tuple[float, int, float]],
    *,
    exit_code: int | None,
    flaps: int,
    minutes: float,
    speed: float,
    flap_every_s: float,
    down_s: float,
    below_floor_lamp_s: float,
    users: int,
    leases: int,
) -> dict[str, Any]:
    warm = [s for s in samples if s[0] >= WARMUP_S] or samples
    rss_start, rss_end = warm[0][1], samples[-1][1]
    hours = max((samples[-1][0] - warm[0][0]) / 3600.0, 1e-9)
    cpu = (samples[-1][2] - samples[0][2]) / max(samples[-1][0] - samples[0][0], 1e-9)
    boots = up.boots()
    lost = missing_seqs(boots, {})
    log = daemon.log_text()
    errors = [
        line for line in log.splitlines() if re.match(r"(?:\S+ \S+ )?(?:ERROR|CRITICAL) ", line)
    ]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False,
        cwd=Path(__file__).resolve().parent,
    ).stdout.strip()  # fmt: skip
    return {
        "commit": commit or "unknown",
        "minutes": minutes,
        "speed": speed,
        "virtual_hours": round(minutes * speed / 60.0, 2),
        "broker_flaps": flaps,
        "flap_every_s": flap_every_s,
        "down_s": down_s,
        "rss_mib_after_warmup": round(rss_start / 1024, 1),
        "rss_mib_end": round(rss_end / 1024, 1),
        "rss_mib_max": round(max(s[1] for s in samples) / 1024, 1),
        "rss_growth_mib": round((rss_end - rss_start) / 1024, 2),
        "rss_growth_mib_per_h": round((rss_end - rss_start) / 1024 / hours, 2),
        "cpu_percent_mean": round(100 * cpu, 1),
        "records_received": sum(len(s) for s in boots.values()),
        "records_lost": sum(len(v) for v in lost.values()),
        "duplicates": up.duplicates,
        "mqtt_connects": int(metric(scrape, "streetlight_mqtt_connects_total")),
        "outbox_dropped": int(metric(scrape, "streetlight_outbox_dropped_total")),
        "lease_send_failures": int(metric(scrape, "streetlight_lease_send_failures_total")),
        "tick_overruns": int(metric(scrape, "streetlight_tick_overruns_total")),
        "ingest_rejected": int(
            sum(
                v
                for lab, v in scrape.get("streetlight_ingest_messages_total", [])
                if lab.get("result") != "ok"
            )
        ),
        "serial_reopens": int(metric(scrape, "streetlight_serial_reopens_total")),
        "error_log_lines": len(errors),
        "first_error_lines": errors[:3],
        "tracebacks": log.count("Traceback"),
        "exit_code": exit_code,
        "below_floor_lamp_s": round(below_floor_lamp_s, 1),
        "road_users": users,
        "leases_applied": leases,
    }
