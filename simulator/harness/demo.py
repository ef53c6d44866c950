"""``streetlight demo``: a private broker, the real daemon and a simulated street, in fast time.

Everything talks over real sockets: the daemon reads counts from a fake sensor node on a pty
(serial sensors) and from MQTT (MQTT sensors), and leases reach MQTT lamp nodes through the
broker. One virtual clock runs ``speed`` times faster than real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import tty
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.clock import Clock
from edge.config import SiteConfig
from edge.control import REQUIREMENT_MARGIN
from edge.daemon import Daemon
from simulator.harness.broker import INSTALL_HINT, MosquittoBroker, find_mosquitto
from simulator.harness.firmware import FakeNode
from simulator.harness.live import LampFleet, LiveStreet
from simulator.requirement import RequirementScorer
from simulator.traffic import generate_arrivals

__all__ = ["DemoSummary", "DemoView", "run_demo", "street_rig"]


@dataclass
class DemoSummary:
    virtual_s: float
    users: int
    sensor_reports: int
    leases: int
    energy_wh: float
    baseline_full_wh: float
    baseline_schedule_wh: float
    below_floor_lamp_s: float
    failsafe_lamp_s: float
    user_samples: int
    underlit_samples: int
    events: int

    @property
    def saved_vs_full(self) -> float:
        return 1.0 - self.energy_wh / self.baseline_full_wh if self.baseline_full_wh else 0.0

    @property
    def saved_vs_schedule(self) -> float:
        full = self.baseline_schedule_wh
        return 1.0 - self.energy_wh / full if full else 0.0


@dataclass
class DemoView:
    """What the live terminal view draws, refreshed a few times a second."""

    daemon: Daemon
    fleet: LampFleet
    street: LiveStreet
    clock: Clock


#: The demo's flow window: short, so the street settles into its night classes in seconds.
DEMO_FLOW_WINDOW_S = 300.0


def demo_site(site: SiteConfig, *, port: int, device: str, state_dir: Path) -> SiteConfig:
    serial = [p.model_copy(update={"url": device}) for p in site.serial]
    window = min(site.controller.flow_window_s, DEMO_FLOW_WINDOW_S)
    bins = min(site.controller.flow_bins, int(window // 20))
    controller = site.controller.model_copy(update={"flow_window_s": window, "flow_bins": bins})
    return site.model_copy(
        update={
            "controller": controller,
            "mqtt": site.mqtt.model_copy(update={"host": "127.0.0.1", "port": port}),
            "serial": serial,
            "storage": site.storage.model_copy(update={"state_dir": state_dir}),
            "metrics": site.metrics.model_copy(update={"port": 0}),
        }
    )


async def run_demo(
    site: SiteConfig,
    *,
    start: float,
    speed: float,
    duration_s: float,
    seed: int = 1,
    on_view: Callable[[DemoView], None] | None = None,
) -> DemoSummary:
    """Run the demo for ``duration_s`` real seconds; returns what happened."""
    if find_mosquitto() is None:
        raise RuntimeError(INSTALL_HINT.replace("the broker tests need", "the demo needs"))
    async with street_rig("streetlight-demo-") as (work, broker, node_fd, device):
        return await _run(
            demo_site(site, port=broker.port, device=device, state_dir=work / "state"),
            node_fd, start=start, speed=speed, duration_s=duration_s, seed=seed,
            on_view=on_view,
        )  # fmt: skip


@contextlib.asynccontextmanager
async def street_rig(
    prefix: str, *, persistent: bool = False
) -> AsyncIterator[tuple[Path, MosquittoBroker, int, str]]:
    """A work dir, a private broker and a raw pty pair: (work, broker, node fd, device path).
    The demo and the soak run their street on it; all of it is gone afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        broker = MosquittoBroker(work / "broker", persistent=persistent)
        await asyncio.to_thread(broker.start)
        node_fd, device_fd = os.openpty()
        tty.setraw(node_fd)
        tty.setraw(device_fd)
        try:
            yield work, broker, node_fd, os.ttyname(device_fd)
        finally:
            for fd in (node_fd, device_fd):
                with contextlib.suppress(OSError):
                    os.close(fd)
            await asyncio.to_thread(broker.stop)


async def _run(
    site: SiteConfig,
    node_fd: int,
    *,
    start: float,
    speed: float,
    duration_s: float,
    seed: int,
    on_view: Callable[[DemoView], None] | None,
) -> DemoSummary:
    clock = Clock(speed=speed, start=start)
    daemon = Daemon(site, clock=clock)
    host, port = site.mqtt.host, site.mqtt.port
    fleet = LampFleet(site, host=host, port=port, clock=clock)
    node = FakeNode(node=1)
    arrivals = generate_arrivals(site, start=start, duration_s=duration_s * speed + 60, seed=seed)
    street = LiveStreet(
        site, host=host, port=port, clock=clock, arrivals=arrivals, start=start,
        serial_nodes={p.name: node for p in site.serial}, seed=seed,
    )  # fmt: skip
    view = DemoView(daemon=daemon, fleet=fleet, street=street, clock=clock)
    lamps = fleet.nodes
    floor = fleet.floor
    positions = daemon.controller.site.lamps.position_m
    cluster_of = daemon.controller.site.lamps.cluster
    clo = daemon.controller.site.lamps.clo
    requirement = RequirementScorer(
        site=daemon.controller.site, entry_s=arrivals.t_s, entry_cluster=arrivals.cluster
    )
    energy0 = daemon.energy.wh.copy()
    stats = {"below_floor": 0.0, "samples": 0, "underlit": 0}

    async def watch() -> None:
        last = clock.time()
        while True:
            await asyncio.sleep(0.1)
            now = clock.time()
            dt, last = now - last, now
            if daemon.controller.night:
                stats["below_floor"] += float(np.count_nonzero(lamps.output < floor - 1e-9)) * dt
            need = requirement.required(now - start)
            for k, pos, _ in street.positions():
                mine = (cluster_of == k).nonzero()[0]
                if not len(mine):
                    continue
                nearest = mine[np.argmin(np.abs(positions[mine] - pos))]
                stats["samples"] += 1
                if lamps.output[nearest] / clo[nearest] < need[k] - REQUIREMENT_MARGIN:
                    stats["underlit"] += 1
            if on_view is not None:
                on_view(view)

    async with asyncio.TaskGroup() as tg:
        running = tg.create_task(daemon.run(), name="demo-daemon")
        others = [
            tg.create_task(fleet.run(), name="demo-lamps"),
            tg.create_task(node.serve_pty(node_fd), name="demo-sensor-node"),
            tg.create_task(street.run(), name="demo-street"),
            tg.create_task(watch(), name="demo-watch"),
        ]
        await asyncio.sleep(duration_s)
        for task in others:
            task.cancel()
        totals = daemon.energy.wh - energy0
        daemon.stop()
        await running
    return DemoSummary(
        virtual_s=duration_s * speed,
        users=street.stats.users,
        sensor_reports=street.stats.reports,
        leases=fleet.leases,
        energy_wh=float(totals[:, 0].sum()),
        baseline_full_wh=float(totals[:, 1].sum()),
        baseline_schedule_wh=float(totals[:, 2].sum()),
        below_floor_lamp_s=stats["below_floor"],
        failsafe_lamp_s=lamps.failsafe_lamp_s,
        user_samples=int(stats["samples"]),
        underlit_samples=int(stats["underlit"]),
        events=daemon.outbox.seq,
    )
