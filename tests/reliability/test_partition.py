"""Partition: a TCP fault proxy between the daemon and its broker (lamp nodes stay on the broker).

Delay, blackhole (no FIN, no RST), half-open (the broker sees the daemon leave, the daemon
sees nothing) and reset. Pass: a silent link is detected within 1.5x keepalive; the outbox
stays within its cap with counted drops; the drain after heal keeps to drain_per_s; lamps keep
valid leases or sit at failsafe, never below their floor.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from simulator.harness.faultproxy import FaultProxy
from simulator.harness.upstream import Upstream
from tests.helpers.broker import MosquittoBroker
from tests.helpers.gateway import Gateway, running_gateway, write_site
from tests.reliability.conftest import Figures

ROOT = "streetlight/v1/cabinet-0417"
KEEPALIVE = 10
DRAIN_PER_S = 20
CAP = 64 * 1024


async def _watch(gw: Gateway, seen: dict[str, float]) -> None:
    """Lamp levels against their floors and the outbox against its cap, every 50 ms."""
    while True:
        out = gw.fleet.output
        seen["below_floor"] += float(np.count_nonzero(out < gw.fleet.floor - 1e-9))
        seen["max_outbox_bytes"] = max(seen["max_outbox_bytes"], gw.daemon.outbox.bytes)
        if bool(gw.fleet.in_failsafe().all()):
            seen["all_failsafe"] = 1.0
        await asyncio.sleep(0.05)


async def _silent_until_detected(gw: Gateway, proxy: FaultProxy, mode: str) -> float:
    started = time.monotonic()
    proxy.set_mode(mode)
    await gw.until(lambda: not gw.daemon.mqtt.is_connected, 3 * KEEPALIVE, f"{mode} noticed")
    return time.monotonic() - started


@pytest.mark.timeout(240)
async def test_partitions_are_detected_bounded_and_never_leave_the_street_dark(
    broker: MosquittoBroker, tmp_path: Path, figures: Figures
) -> None:
    proxy = FaultProxy(broker.host, broker.port)
    await proxy.start()
    config = write_site(tmp_path, port=proxy.port)
    text = config.read_text()
    text = text.replace(
        "telemetry: {energy_s: 5, traffic_s: 10}", "telemetry: {energy_s: 1, traffic_s: 1}"
    )
    text = text.replace(
        "  reconnect_max_s: 5", f"  reconnect_max_s: 5\n  keepalive_s: {KEEPALIVE}\n"
        f"  drain_per_s: {DRAIN_PER_S}", 1
    )  # fmt: skip
    text = text.replace("\n  state_dir:", f"\n  outbox_max_bytes: {CAP}\n  state_dir:", 1)
    config.write_text(text)
    seen = {"below_floor": 0.0, "max_outbox_bytes": 0.0, "all_failsafe": 0.0}
    try:
        async with (
            Upstream(broker.host, broker.port, ROOT, client_id="up-partition") as up,
            running_gateway(config, fleet_port=broker.port) as gw,
        ):
            watcher = asyncio.create_task(_watch(gw, seen), name="watch")
            daemon, session = gw.daemon, gw.daemon.mqtt
            await gw.until(lambda: session.is_connected and daemon.stats.ticks > 5, 10)

            # Delay: slow, but alive; leases keep flowing.
            leases = gw.fleet.leases
            proxy.set_mode("delay", delay_s=0.3)
            await asyncio.sleep(3.0)
            assert session.is_connected
            assert gw.fleet.leases > leases
            proxy.set_mode("pass")

            # Blackhole: found by the unanswered ping; the outbox fills to its cap and drops.
            blackhole_s = await _silent_until_detected(gw, proxy, "blackhole")
            await gw.until(lambda: seen["all_failsafe"] == 1.0, 15, "leases lapse to failsafe")
            await gw.until(lambda: daemon.outbox.dropped > 0, 15, "outbox drops")
            proxy.set_mode("pass")
            # A connect begun inside the blackhole waits out its timeout (10 s), then the
            # backoff (up to reconnect_max_s, 5 s): up to 15 s after the heal.
            await gw.until(lambda: session.is_connected, 20, "reconnect after the blackhole")
            backlog, healed = daemon.outbox.depth, time.monotonic()
            delivered = daemon.outbox.delivered
            await gw.until(lambda: daemon.outbox.depth < 5, 60, "backlog drained")
            # New records keep coming at 20/s: the drain itself is what is rate-limited.
            drain_rate = (daemon.outbox.delivered - delivered) / (time.monotonic() - healed)

            # Half-open: the broker sees the daemon go (its Will: offline); the daemon sees nothing.
            statuses = len(up.status)
            half_open_s = await _silent_until_detected(gw, proxy, "half_open")
            will = [s for _, s in up.status[statuses:] if s["state"] == "offline"]
            proxy.set_mode("pass")
            await gw.until(lambda: session.is_connected, 20, "reconnect after half-open")

            # Reset: noticed at once.
            reset_s = await _silent_until_detected(gw, proxy, "reset")
            proxy.set_mode("pass")
            await gw.until(lambda: session.is_connected, 10)
            await asyncio.sleep(0.5)
            watcher.cancel()
            dropped, dead_links = daemon.outbox.dropped, session.stats.dead_links
    finally:
        await proxy.stop()
    gaps = [r for r in up.records.values() if r.get("kind") == "outbox_gap"]
    figures(
        keepalive_s=KEEPALIVE,
        blackhole_detected_s=round(blackhole_s, 2),
        half_open_detected_s=round(half_open_s, 2),
        reset_detected_s=round(reset_s, 2),
        outbox_cap_bytes=CAP,
        outbox_max_bytes=int(seen["max_outbox_bytes"]),
        outbox_dropped=dropped,
        backlog_at_heal=backlog,
        drain_per_s_limit=DRAIN_PER_S,
        drain_per_s_measured=round(drain_rate, 1),
        below_floor_lamp_samples=int(seen["below_floor"]),
    )
    assert blackhole_s <= 1.5 * KEEPALIVE
    assert half_open_s <= 1.5 * KEEPALIVE
    assert reset_s < 2.0
    assert dead_links >= 2
    assert will, "the broker published the daemon's Will when the half-open link dropped"
    assert seen["max_outbox_bytes"] <= CAP
    assert dropped > 0
    assert gaps, "the drops were announced by an outbox_gap event"
    assert drain_rate <= DRAIN_PER_S * 1.1
    assert seen["below_floor"] == 0


@pytest.mark.timeout(120)
async def test_a_slow_but_busy_link_is_not_given_up(
    broker: MosquittoBroker, tmp_path: Path, figures: Figures
) -> None:
    """3 s of delay with counts streaming in: the PINGRESP comes late, behind data that keeps
    arriving. That is a slow link, not a dead one (keepalive 5 s: a quarter is 1.25 s)."""
    import paho.mqtt.client as paho

    proxy = FaultProxy(broker.host, broker.port)
    await proxy.start()
    config = write_site(tmp_path, port=proxy.port)
    config.write_text(
        config.read_text().replace(
            "  reconnect_max_s: 5", "  reconnect_max_s: 5\n  keepalive_s: 5", 1
        )
    )
    feed = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    feed.connect(broker.host, broker.port)
    feed.loop_start()
    try:
        async with running_gateway(config, fleet_port=broker.port) as gw:
            session = gw.daemon.mqtt
            await gw.until(lambda: session.is_connected, 10)
            proxy.set_mode("delay", delay_s=3.0)
            count0 = session.stats.received
            for _ in range(300):  # 20 s of counts at 15 a second, arriving 3 s late
                feed.publish(
                    f"{ROOT}/sensor/art-radar-east/counts", b'{"v":1,"interval_s":10}', qos=0
                )
                await asyncio.sleep(1 / 15)
            still, lost = session.is_connected, session.stats.dead_links
            received = session.stats.received - count0
    finally:
        feed.loop_stop()
        feed.disconnect()
        await proxy.stop()
    figures(delay_s=3.0, keepalive_s=5, dead_links=lost, messages_received=received)
    assert lost == 0
    assert still
    assert received > 200
