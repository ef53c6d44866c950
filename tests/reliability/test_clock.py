"""Wall-clock steps: NTP setting a Pi without an RTC from 1970 to now at boot, a clock set an
hour ahead or back while running.

The lamps report no energy counters here, so the ledger is the model's (the hard case: lamps
with meters are counted by them, whatever the gateway's clock says).

Pass: no energy for time that did not pass (over a step, only the few ticks that passed are
drawn), telemetry and checkpoints carry on through a step back, leases keep flowing (no lamp
in failsafe), and every step is counted (metric) and, when large, reported (event).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.harness.upstream import Upstream
from tests.helpers.broker import MosquittoBroker
from tests.helpers.gateway import NIGHT, SteppedClock, running_gateway, write_site
from tests.reliability.conftest import Figures

ROOT = "streetlight/v1/cabinet-0417"


def _wh(gw: object) -> float:
    return float(gw.daemon.energy.wh[:, 0].sum())  # type: ignore[attr-defined]


def _energy_records(up: Upstream) -> int:
    return sum(1 for r in up.records.values() if "clusters" in r and "t" in r)


@pytest.mark.timeout(120)
async def test_clock_steps_add_no_energy_and_stop_nothing(
    broker: MosquittoBroker, tmp_path: Path, figures: Figures
) -> None:
    config = write_site(tmp_path, port=broker.port)
    clock = SteppedClock(start=NIGHT)
    full_w = 3340.0  # the example site's lamps at full power
    two_ticks_wh = 2 * full_w / 3600.0
    async with (
        Upstream(broker.host, broker.port, ROOT, client_id="up-clock") as up,
        running_gateway(config, clock=clock, meters=False) as gw,
    ):
        d = gw.daemon
        await gw.until(lambda: d.mqtt.is_connected and d.stats.ticks > 5, 10)
        steps = {}
        for delta in (3600.0, -3600.0):
            ticks, before = d.stats.ticks, _wh(gw)
            clock.offset += delta
            await gw.until(lambda t=ticks: d.stats.ticks >= t + 2, 10)
            # energy over the step: the few ticks that passed, not an hour
            grown = _wh(gw) - before
            assert grown <= 3 * two_ticks_wh, (delta, grown)
            records = _energy_records(up)
            await gw.until(lambda r=records: _energy_records(up) >= r + 2, 15, "telemetry on")
            steps[delta] = round(grown, 3)
        assert not gw.fleet.in_failsafe().any()
        assert d.metrics.clock_steps._value.get() >= 2
        events = [r for r in up.records.values() if r.get("kind") == "clock_step"]
        assert sorted(round(e["data"]["delta_s"] / 3600) for e in events) == [-1, 1]
    figures(energy_wh_over_plus_1h=steps[3600.0], energy_wh_over_minus_1h=steps[-3600.0],
            bound_wh=round(3 * two_ticks_wh, 3))  # fmt: skip


@pytest.mark.timeout(120)
async def test_a_boot_in_1970_then_ntp_adds_no_energy(
    broker: MosquittoBroker, tmp_path: Path, figures: Figures
) -> None:
    """A Pi without an RTC boots at 1970-01-01 (midnight UTC: night in Amsterdam) and NTP
    sets the clock to now a few seconds later: 56 years must not be drawn energy."""
    config = write_site(tmp_path, port=broker.port)
    clock = SteppedClock(start=0.0)
    async with running_gateway(config, clock=clock, meters=False) as gw:
        d = gw.daemon
        await gw.until(lambda: d.mqtt.is_connected and d.stats.ticks > 5, 10)
        before = _wh(gw)
        clock.offset = NIGHT  # NTP
        ticks = d.stats.ticks
        await gw.until(lambda: d.stats.ticks >= ticks + 5, 10)
        grown = _wh(gw) - before
        assert grown < 10 * 3340.0 / 3600.0  # at most a few ticks at full power
        # the nodes keep their own time, so their leases run on through the step; every lamp
        # still gets a newer lease within a refresh
        seqs = gw.fleet.lease_seq.copy()
        await gw.until(lambda: bool((gw.fleet.lease_seq > seqs).all()), 10, "new leases")
        assert not gw.fleet.in_failsafe().any()
        assert d.controller.night
    figures(energy_wh_over_the_ntp_step=round(grown, 3))
