"""Stall: SIGSTOP the daemon (a hung process, as far as the street can tell).

Pass: the lamp nodes reach failsafe within lease + 10 %; the systemd watchdog pings stop for
the whole stall (so WatchdogSec would fire) and resume after SIGCONT.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import socket
import time
from pathlib import Path

import pytest

from edge.clock import Clock
from edge.config import load_config
from simulator.harness.daemonproc import DaemonProcess
from simulator.harness.live import LampFleet
from tests.helpers.broker import MosquittoBroker
from tests.helpers.gateway import NIGHT, write_site
from tests.reliability.conftest import Figures

SPEED = 10.0


async def _pings(sock: socket.socket, seen: list[tuple[float, str]]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        data = await loop.sock_recv(sock, 256)
        seen.append((time.monotonic(), data.decode()))


@pytest.mark.timeout(120)
async def test_a_stalled_daemon_lets_lamps_fall_to_failsafe_and_stops_watchdog_pings(
    broker: MosquittoBroker, tmp_path: Path, figures: Figures
) -> None:
    config = write_site(tmp_path, port=broker.port)
    site = load_config(config)
    lease_real_s = site.controller.lease_s / SPEED
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.setblocking(False)
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "5000000"}
    daemon = DaemonProcess(
        config, log_path=tmp_path / "daemon.log", virtual_start="2026-11-28T23:30",
        speed=SPEED, env=env,
    )  # fmt: skip
    fleet = LampFleet(
        site, host=broker.host, port=broker.port, clock=Clock(speed=SPEED, start=NIGHT)
    )
    seen: list[tuple[float, str]] = []
    tasks = [asyncio.create_task(fleet.run(tick_s=0.05)), asyncio.create_task(_pings(notify, seen))]
    try:
        await daemon.start()
        async with asyncio.timeout(20):
            while not (fleet.leases >= len(fleet.ids) and not fleet.in_failsafe().any()):
                await asyncio.sleep(0.05)
        await asyncio.sleep(2 * site.controller.lease_refresh_s / SPEED)  # leases refreshed
        assert any(msg == "READY=1" for _, msg in seen)

        daemon.signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        async with asyncio.timeout(3 * lease_real_s):
            while not fleet.in_failsafe().all():
                await asyncio.sleep(0.02)
        failsafe_s = time.monotonic() - stopped_at
        assert (fleet.output >= fleet.floor - 1e-9).all()  # never dark while falling back
        async with asyncio.timeout(2):  # the nodes' next ticks fade every lamp to full light
            while fleet.output.min() < 1.0 - 1e-9:
                await asyncio.sleep(0.02)
        await asyncio.sleep(max(0.0, 12.0 - failsafe_s))
        daemon.signal(signal.SIGCONT)
        resumed_at = time.monotonic()
        async with asyncio.timeout(10):
            while not any(t > resumed_at and m == "WATCHDOG=1" for t, m in seen):
                await asyncio.sleep(0.02)
        stall = [t for t, m in seen if m == "WATCHDOG=1" and stopped_at < t < resumed_at]
        before = [t for t, m in seen if m == "WATCHDOG=1" and t < stopped_at]
        normal_gap = max(b - a for a, b in itertools.pairwise(before))
        assert await daemon.stop() == 0
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await daemon.kill()
        notify.close()
    figures(
        lease_real_s=lease_real_s,
        failsafe_after_s=round(failsafe_s, 2),
        watchdog_pings_during_stall=len(stall),
        stall_s=round(resumed_at - stopped_at, 1),
        normal_ping_gap_s=round(normal_gap, 2),
    )
    assert failsafe_s <= 1.1 * lease_real_s
    assert stall == []
    assert normal_gap < 5.0  # WATCHDOG_USEC: a healthy daemon pings well inside it
