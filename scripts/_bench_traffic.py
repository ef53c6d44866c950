"""The daemon benchmark's traffic: floods of counts taken in (beside a bare subscriber),
and a count's trip to the lease of a lamp ahead."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge.config import SiteConfig
from scripts._bench_gateway import ZERO_COUNTS, helper, mqtt_sensors
from simulator.harness.daemonproc import metric, scrape_metrics

CAR_COUNT = b'{"v":1,"interval_s":1,"forward":{"car":1},"mean_speed_mps":13.9}'
#: (name, what it is, publishers, sensors fed, share of counts with a car)
MIXES = (
    ("quiet", "counts of nobody, 4 sensors", 4, 4, 0.0),
    ("busy, one sensor", "every other count a car, all on one sensor", 4, 1, 0.5),
    ("busy, spread", "every other count a car, over 8 sensors", 8, 8, 0.5),
)


async def _flood(port: int, topics: list[str], lines: Path) -> list[asyncio.subprocess.Process]:
    """One ``mosquitto_pub -l`` (C, QoS 0, as fast as it can) per topic, each sending the
    lines of ``lines``."""
    pubs = []
    for t in topics:
        with lines.open("rb") as feed:
            pubs.append(await asyncio.create_subprocess_exec(
                "mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "0", "-t", t, "-l",
                stdin=feed,
            ))  # fmt: skip
    return pubs


async def _bare_round(
    role: str, port: int, root: str, sensors: list[str], lines: Path, total: int
) -> float:
    sub = await helper(role, str(port), f"{root}/sensor/+/counts", str(total))
    assert sub.stdout is not None
    await sub.stdout.readline()  # ready
    pubs = await _flood(port, [f"{root}/sensor/{s}/counts" for s in sensors], lines)
    for p in pubs:
        await p.wait()
    out, _ = await sub.communicate()
    bare = json.loads(out.decode().strip().splitlines()[-1])
    rate: float = bare["n"] / max(bare["last"] - bare["first"], 1e-9)
    return rate


async def _daemon_round(
    site: SiteConfig, port: int, sensors: list[str], lines: Path, total: int
) -> tuple[float, int]:
    """The daemon's rate over the flood (every MQTT message handled: taken or refused), from
    its metrics sampled every 0.1 s; and its tick overruns meanwhile."""

    def handled(m: Any) -> float:
        return metric(m, "streetlight_ingest_messages_total", source="mqtt")

    m0 = await asyncio.to_thread(scrape_metrics, site.metrics.port)
    h0, over0 = handled(m0), metric(m0, "streetlight_tick_overruns_total")
    topics = [f"{site.topic_root}/sensor/{s}/counts" for s in sensors]
    pubs = await _flood(port, topics, lines)
    samples: list[tuple[float, float]] = [(time.monotonic(), 0.0)]
    idle_since = None
    while True:
        await asyncio.sleep(0.1)
        m = await asyncio.to_thread(scrape_metrics, site.metrics.port)
        v = handled(m) - h0
        samples.append((time.monotonic(), v))
        if v == samples[-2][1]:
            idle_since = idle_since or time.monotonic()
            if v >= total or time.monotonic() - idle_since > 5:
                break
        else:
            idle_since = None
    for p in pubs:
        await p.wait()
    # each change happened between its sample and the one before: take the middle
    first = next(k for k, (_, v) in enumerate(samples) if v > 0)
    last = next(k for k, (_, v) in enumerate(samples) if v == samples[-1][1])
    t_first = (samples[first - 1][0] + samples[first][0]) / 2
    t_last = (samples[last - 1][0] + samples[last][0]) / 2
    rate = samples[-1][1] / max(t_last - t_first, 1e-9)
    return rate, int(metric(m, "streetlight_tick_overruns_total") - over0)


async def bench_ingest(
    site: SiteConfig, port: int, work: Path, messages: int, runs: int
) -> list[dict[str, Any]]:
    """Each mix: the bare subscriber alone, then the daemon alone (the other way round every
    other run), on the same broker and the same flood; the ratio of each pair."""
    sensors = mqtt_sensors(site)
    rows = []
    for name, what, n_pubs, n_sensors, busy in MIXES:
        fed = sensors[:n_sensors]
        topics_of = [fed[k % len(fed)] for k in range(n_pubs)]
        per_pub = messages // n_pubs
        lines = work / "flood.txt"
        body = [CAR_COUNT if busy and k % 2 == 0 else ZERO_COUNTS for k in range(per_pub)]
        lines.write_bytes(b"\n".join(body) + b"\n")
        total = per_pub * n_pubs
        rates: dict[str, list[float]] = {"bare-sub": [], "paho-sub": [], "daemon": []}
        overruns = 0
        for r in range(runs):
            order = list(rates) if r % 2 == 0 else list(reversed(rates))
            for who in order:
                if who == "daemon":
                    rate, over = await _daemon_round(site, port, topics_of, lines, total)
                    overruns += over
                else:
                    rate = await _bare_round(who, port, "bench-bare", topics_of, lines, total)
                rates[who].append(rate)
                await asyncio.sleep(2.0)  # settle: the flow window, the tracks
        ratios = [d / b for d, b in zip(rates["daemon"], rates["bare-sub"], strict=True)]
        floors = [d / f for d, f in zip(rates["daemon"], rates["paho-sub"], strict=True)]
        rows.append({
            "mix": name, "what": what, "messages": total, "runs": runs,
            "bare_msg_s": float(np.median(rates["bare-sub"])),
            "paho_msg_s": float(np.median(rates["paho-sub"])),
            "daemon_msg_s": float(np.median(rates["daemon"])),
            "ratio_median": float(np.median(ratios)), "ratio_min": min(ratios),
            "ratio_max": max(ratios), "floor_ratio_median": float(np.median(floors)),
            "tick_overruns": overruns,
            "runs_msg_s": {who: [round(x) for x in r] for who, r in rates.items()},
        })  # fmt: skip
        print(f"  {name}: {[round(x, 2) for x in ratios]}", file=sys.stderr, flush=True)
    return rows


async def bench_latency(
    site: SiteConfig, port: int, rates: list[int], probes: int
) -> list[dict[str, Any]]:
    import aiomqtt

    spec_lamps = {
        c.id: sorted(c.resolved_lamps(), key=lambda lamp: lamp.position_m) for c in site.clusters
    }
    # not the roads the ingest floods lit (their flow keeps them at full for a flow window)
    flooded = set(mqtt_sensors(site)[: max(m[3] for m in MIXES)])
    probe_clusters = [
        c for c in site.clusters
        if c.sensors and c.sensors[0].source == "mqtt" and not flooded & {s.id for s in c.sensors}
    ]  # fmt: skip
    ahead = {c.id: {lamp.id for lamp in spec_lamps[c.id][:3]} for c in probe_clusters}
    probe_sensors = {c.sensors[0].id for c in probe_clusters}
    loaded = [
        f"{site.topic_root}/sensor/{s}/counts" for s in mqtt_sensors(site) if s not in probe_sensors
    ][-8:]
    rows = []
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        await client.subscribe(f"{site.topic_root}/lamp/+/set", qos=1)
        for c in probe_clusters:  # the probes only: not the background load
            await client.subscribe(f"{site.topic_root}/sensor/{c.sensors[0].id}/counts", qos=1)
        waiting: dict[frozenset[str], tuple[float, asyncio.Future[float]]] = {}
        level: dict[str, float] = {}  # each lamp's last leased level
        echo: dict[str, tuple[float, asyncio.Future[float]]] = {}

        async def listen() -> None:
            async for msg in client.messages:
                if msg.topic.value.endswith("/counts"):  # the probe itself: the broker's share
                    sensor = msg.topic.value.rsplit("/", 2)[-2]
                    if sensor in echo and not echo[sensor][1].done():
                        echo[sensor][1].set_result(time.monotonic() - echo[sensor][0])
                    continue
                lamp = msg.topic.value.rsplit("/", 2)[-2]
                level[lamp] = json.loads(msg.payload)["level"]
                for dim, (t0, fut) in list(waiting.items()):
                    if lamp in dim and not fut.done() and level[lamp] >= 0.99:
                        fut.set_result(time.monotonic() - t0)

        async def keep_alive() -> None:
            # the probe roads' other sensors report nobody, as a live sensor does: silent
            # ones would put their roads in fail-safe (at full, where no probe can rise)
            while True:
                for c in probe_clusters:
                    for s in c.sensors:
                        topic = f"{site.topic_root}/sensor/{s.id}/counts"
                        await client.publish(topic, ZERO_COUNTS, qos=1)
                await asyncio.sleep(20.0)

        async def dim_road(k: int) -> tuple[Any, frozenset[str]]:
            # the next probe road, in turn, with a lamp ahead last leased below full, and
            # those lamps: one already at full (a road end lit all night, a road still lit
            # by an earlier probe) has no rise to wait for
            for _ in range(300):
                for j in range(len(probe_clusters)):
                    c = probe_clusters[(k + j) % len(probe_clusters)]
                    dim = frozenset(x for x in ahead[c.id] if level.get(x, 1.0) < 0.99)
                    if dim:
                        return c, dim
                await asyncio.sleep(0.1)
            raise RuntimeError("no probe road dimmed in 30 s")

        listener = asyncio.create_task(listen())
        alive = asyncio.create_task(keep_alive())
        await asyncio.sleep(5.0)  # the roads leave fail-safe and dim
        for rate in rates:
            load = await helper("load", str(port), str(rate), *loaded)
            assert load.stdout is not None
            await load.stdout.readline()
            await asyncio.sleep(2.0)
            lat, rtt = [], []
            for k in range(probes):
                c, dim = await dim_road(k)
                fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
                body = json.dumps({"v": 1, "interval_s": 5, "forward": {"car": 1},
                                   "mean_speed_mps": 13.9}).encode()  # fmt: skip
                waiting[dim] = (time.monotonic(), fut)
                back: asyncio.Future[float] = asyncio.get_running_loop().create_future()
                echo[c.sensors[0].id] = (time.monotonic(), back)
                await client.publish(
                    f"{site.topic_root}/sensor/{c.sensors[0].id}/counts", body, qos=1
                )
                try:
                    async with asyncio.timeout(5):
                        lat.append(await fut)
                except TimeoutError:
                    lat.append(float("nan"))
                if back.done():
                    rtt.append(back.result())
                del waiting[dim], echo[c.sensors[0].id]
                await asyncio.sleep(0.3 + 0.4 * np.random.default_rng(k).random())
            load.kill()
            await load.wait()
            arr = np.array(lat) * 1000
            good = arr[np.isfinite(arr)]
            rows.append({
                "rate": rate, "probes": probes, "missed": int(np.sum(~np.isfinite(arr))),
                "p50_ms": float(np.percentile(good, 50)) if len(good) else float("nan"),
                "p99_ms": float(np.percentile(good, 99)) if len(good) else float("nan"),
                "max_ms": float(good.max()) if len(good) else float("nan"),
                "broker_p50_ms": float(np.percentile(rtt, 50)) * 1000 if rtt else float("nan"),
            })  # fmt: skip
        listener.cancel()
        alive.cancel()
    return rows
