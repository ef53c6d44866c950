"""Broker: restart the private mosquitto again and again while the daemon produces telemetry.

Pass: 0 outbox loss, reconnect within the backoff cap + 2 s, status republished each time,
no reconnect storm (one connection per broker start, a few refused attempts per outage).
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest

from simulator.harness.upstream import Upstream, missing_seqs
from tests.helpers.broker import MosquittoBroker
from tests.helpers.gateway import running_gateway, write_site
from tests.reliability.conftest import Figures

ROOT = "streetlight/v1/cabinet-0417"
STEADY = "telemetry: {energy_s: 1, traffic_s: 1}"  # 20 records/s at 10x


@pytest.mark.parametrize("restarts", [pytest.param(3), pytest.param(10, marks=pytest.mark.slow)])
@pytest.mark.timeout(300)
async def test_broker_restarts_lose_nothing_and_reconnect_within_the_cap(
    tmp_path: Path, restarts: int, figures: Figures
) -> None:
    broker = MosquittoBroker(tmp_path / "mq", persistent=True)
    broker.start()
    config = write_site(tmp_path, port=broker.port)
    config.write_text(config.read_text().replace("telemetry: {energy_s: 5, traffic_s: 10}", STEADY))
    cap = 5.0  # write_site's reconnect_max_s
    reconnect_s: list[float] = []
    refused: list[int] = []
    online_after: list[int] = []
    try:
        async with (
            Upstream(broker.host, broker.port, ROOT, client_id="up-restarts") as up,
            running_gateway(config) as gw,
        ):
            session = gw.daemon.mqtt
            await gw.until(lambda: session.is_connected, 10)
            for _ in range(restarts):
                await asyncio.sleep(1.0)  # under load: telemetry, leases, lamp states
                failures_before = session.stats.connect_failures
                await asyncio.to_thread(broker.stop)
                await gw.until(lambda: not session.is_connected, 10)
                await asyncio.sleep(1.0)
                statuses = len(up.status)
                await asyncio.to_thread(broker.start)
                up_at = time.monotonic()
                await gw.until(lambda: session.is_connected, cap + 5)
                reconnect_s.append(time.monotonic() - up_at)
                refused.append(session.stats.connect_failures - failures_before)
                await gw.until(
                    lambda n=statuses: any(s["state"] == "online" for _, s in up.status[n:]), 10
                )
                online_after.append(
                    sum(1 for _, s in up.status[statuses:] if s["state"] == "online")
                )
            outbox = gw.daemon.outbox
            await gw.until(lambda: outbox.depth == 0, 20)
            committed = {gw.daemon.boot_id: outbox.seq - 1}
            await gw.until(lambda: not missing_seqs(up.boots(), committed), 10)
            connects, dropped = session.stats.connects, outbox.dropped
    finally:
        broker.stop()
    lost = missing_seqs(up.boots(), committed)
    figures(
        restarts=restarts,
        records=outbox.seq,
        records_lost=sum(len(v) for v in lost.values()),
        outbox_dropped=dropped,
        reconnect_s_max=round(max(reconnect_s), 2),
        reconnect_s_mean=round(sum(reconnect_s) / len(reconnect_s), 2),
        refused_attempts_max=max(refused),
        connects=connects,
        duplicates=up.duplicates,
    )
    assert lost == {}
    assert dropped == 0
    assert max(reconnect_s) <= cap + 2.0
    assert all(n >= 1 for n in online_after)
    assert connects == restarts + 1  # one connection per broker start: no storm
    # ~1 s down with backoff from 0.5 s doubling: a handful of refused attempts, not hundreds
    assert max(refused) <= math.ceil(math.log2((1.0 + cap) / 0.25)) + 2
