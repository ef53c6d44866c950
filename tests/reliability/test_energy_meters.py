"""Energy from the lamps' own meters while the daemon crashes again and again.

Lamp nodes with energy counters (the simulated fleet, D4i-style) run throughout; the daemon is
SIGKILLed every few seconds and restarted a second later. The modelled figure misses what the
lamps drew while the daemon was down and since its last checkpoint; the ledger follows the
lamps' counters (saved with each checkpoint), so it misses only the last reading's lag.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.clock import Clock
from edge.config import load_config
from edge.daemon._publish import LEDGER, METERED, MODELLED
from edge.state import StateStore
from simulator.harness.daemonproc import DaemonProcess
from simulator.harness.live import LampFleet
from tests.helpers.broker import MosquittoBroker
from tests.helpers.gateway import NIGHT, write_site
from tests.reliability.conftest import Figures

#: The daemon's clock runs at the lamps' pace: a lamp's counter may rise by no more than its
#: power over the time that passed by the daemon's clock, and a restarted daemon's clock
#: starts a process start-up behind the lamps' (a second or more on a busy machine); at 10x
#: that gap can make a true reading look implausible to the daemon.
SPEED = 1.0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


@pytest.mark.timeout(300)
async def test_lamp_meters_keep_the_ledger_whole_through_crashes(
    broker: MosquittoBroker, tmp_path: Path, figures: Figures
) -> None:
    config = write_site(tmp_path, port=broker.port)
    text = config.read_text()
    config.write_text(text.replace("\nenergy:\n", "\nenergy:\n  checkpoint_s: 2\n", 1))
    site = load_config(config)
    fleet = LampFleet(site, host=broker.host, port=broker.port,
                      clock=Clock(speed=SPEED, start=NIGHT), report_s=1.0)  # fmt: skip
    daemon = DaemonProcess(config, log_path=tmp_path / "daemon.log", speed=SPEED)
    rng = random.Random(3)
    runner = asyncio.create_task(fleet.run())
    try:
        await asyncio.sleep(0.5)
        for k in range(6):
            # a restarted daemon's clock carries on from the lamps' (as the system clock does
            # across a real restart): each run started at the same virtual time would step
            # the clock back at every restart
            daemon.virtual_start = _iso(fleet.clock.time())
            await daemon.start()
            if k == 0:  # the daemon's first reading is from before its first lease
                async with asyncio.timeout(20):
                    while fleet.leases == 0:
                        await asyncio.sleep(0.02)
                before = float(fleet.meter_wh.sum())
            await asyncio.sleep(rng.uniform(2.0, 4.0))
            await daemon.kill()
            await asyncio.sleep(1.0)  # down: the lamps hold their leases, then fail safe
        daemon.virtual_start = _iso(fleet.clock.time())
        await daemon.start()
        await asyncio.sleep(4.0)
        drawn = float(fleet.meter_wh.sum())  # what the lamps' counters say, now
        # the last reading the daemon has surely had: sent a wall second (SPEED s of the
        # fleet's clock) before now; a busy machine may delay a report, never the counters
        settled = fleet.now() - SPEED
        reported = max(wh for at, wh in fleet.reported_wh if at <= settled)
        assert await daemon.stop() == 0, daemon.log_text()[-2000:]
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await fleet.session.disconnect()

    store = StateStore(tmp_path / "state" / "state.db")
    try:
        totals = store.get("energy")
    finally:
        store.close()
    ledger = sum(row[LEDGER] for row in totals.values())
    modelled = sum(row[MODELLED] for row in totals.values())
    metered = sum(row[METERED] for row in totals.values())
    figures(
        kills=6,
        drawn_wh=round(drawn, 2),
        ledger_wh=round(ledger, 2),
        modelled_wh=round(modelled, 2),
        metered_wh=round(metered, 2),
        ledger_missing_share=round(1 - ledger / drawn, 4),
        modelled_missing_share=round(1 - modelled / drawn, 4),
        not_yet_reported_wh=round(drawn - reported, 2),
        drawn_before_first_lease_wh=round(before, 2),
    )
    assert modelled < 0.85 * drawn  # the model alone misses the downtime and the lost checkpoints
    # The ledger: everything from the lamps' first reading (taken before the first lease) to
    # the last one the daemon had before it stopped.
    assert reported - before <= ledger <= drawn * 1.02
