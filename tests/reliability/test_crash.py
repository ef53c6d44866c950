"""Crash: SIGKILL the daemon at random moments under steady telemetry, restart it each time.

Pass: 0 records lost upstream (deduplicated by boot_id/seq), energy totals never go backwards,
publishing resumes within 10 s of each restart. Measured: start to the first lease on the wire
(crash to first lease under systemd is that plus the unit's RestartSec).
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import aiomqtt
import pytest

from simulator.harness.daemonproc import DaemonProcess
from simulator.harness.upstream import Upstream, missing_seqs
from tests.helpers.broker import MosquittoBroker
from tests.helpers.gateway import write_site
from tests.reliability.conftest import Figures, outbox_rows

ROOT = "streetlight/v1/cabinet-0417"


@pytest.mark.parametrize("kills", [pytest.param(5), pytest.param(20, marks=pytest.mark.slow)])
@pytest.mark.timeout(600)
async def test_sigkill_loses_no_telemetry_and_energy_never_goes_backwards(
    broker: MosquittoBroker, tmp_path: Path, kills: int, figures: Figures
) -> None:
    config = write_site(tmp_path, port=broker.port)
    steady = "telemetry: {energy_s: 1, traffic_s: 1}"  # 20 records/s at 10x
    config.write_text(config.read_text().replace("telemetry: {energy_s: 5, traffic_s: 10}", steady))
    state = tmp_path / "state"
    daemon = DaemonProcess(
        config, log_path=tmp_path / "daemon.log", virtual_start="2026-11-28T23:30", speed=10
    )
    rng = random.Random(7)
    committed: dict[str, int] = {}
    resume_s: list[float] = []
    first_lease_s: list[float] = []
    leases: list[float] = []  # arrival times of leases on the wire
    async with (
        Upstream(broker.host, broker.port, ROOT, client_id=f"up-{tmp_path.name}") as up,
        aiomqtt.Client(broker.host, broker.port, identifier=f"lamps-{tmp_path.name}",
                       protocol=aiomqtt.ProtocolVersion.V5) as lamps,
    ):  # fmt: skip
        await lamps.subscribe(f"{ROOT}/lamp/+/set", qos=1)

        async def watch_leases() -> None:
            async for _ in lamps.messages:
                leases.append(time.monotonic())

        watcher = asyncio.create_task(watch_leases())
        for _ in range(kills):
            before = set(up.boots())
            started = time.monotonic()
            await daemon.start()
            async with asyncio.timeout(30):
                while not set(up.boots()) - before:
                    await asyncio.sleep(0.02)
                while not leases or leases[-1] < started:
                    await asyncio.sleep(0.01)
            resume_s.append(time.monotonic() - started)
            first_lease_s.append(next(t for t in leases if t >= started) - started)
            await asyncio.sleep(rng.uniform(0.2, 3.0))
            await daemon.kill()
            top, _ = outbox_rows(state)
            for boot, seq in top.items():
                committed[boot] = max(committed.get(boot, -1), seq)
        # A last, clean run delivers whatever the kills left in the outbox.
        await daemon.start()
        async with asyncio.timeout(30):
            while True:
                await asyncio.sleep(0.5)
                boots = up.boots()
                if len(boots) > kills and not missing_seqs(boots, committed):
                    break
        assert await daemon.stop() == 0, daemon.log_text()[-2000:]
        _, depth = outbox_rows(state)
        await asyncio.sleep(0.5)
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)

    boots = up.boots()
    lost = missing_seqs(boots, committed)
    received = sum(len(s) for s in boots.values())
    series = up.energy_series()
    backwards = 0
    last: dict[str, float] = {}
    for _, _, clusters in series:
        for cid, c in clusters.items():
            if c["energy_wh"] < last.get(cid, 0.0) - 1e-9:
                backwards += 1
            last[cid] = max(last.get(cid, 0.0), c["energy_wh"])
    figures(
        kills=kills,
        records_received=received,
        records_lost=sum(len(v) for v in lost.values()),
        duplicates=up.duplicates,
        energy_records=len(series),
        energy_backwards=backwards,
        resume_s_max=round(max(resume_s), 2),
        resume_s_mean=round(sum(resume_s) / len(resume_s), 2),
        first_lease_s_max=round(max(first_lease_s), 2),
        first_lease_s_mean=round(sum(first_lease_s) / len(first_lease_s), 2),
        outbox_left=depth,
    )
    assert len(boots) == kills + 1
    assert lost == {}
    assert backwards == 0
    assert len(series) >= kills  # energy records were flowing all along
    assert max(resume_s) < 10.0
    assert max(first_lease_s) < 10.0  # a bound for a loaded machine; the figure is the mean
    assert depth == 0
