"""A lamp behind a serial lamp node, end to end: the daemon on a real pty and a private broker,
the fake lamp node firmware on the far end (sharing the bus with the sensor node)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np

from edge.clock import Clock
from edge.config import example_config_path, load_config
from edge.daemon._serial_lamps import SEQ_MAX, SerialLamps
from firmware_bridge.frames import FLAG_FAILSAFE
from simulator.harness.firmware import FakeNode, LampState
from tests.conftest import run_cli
from tests.helpers.broker import MosquittoBroker
from tests.helpers.gateway import NIGHT, Recorder, running_gateway, write_site
from tests.helpers.pty_pair import PtyPair

ROOT = "streetlight/v1/cabinet-0417"
LAMP = "park-entrance"
NODE = 40


def _serial_site(tmp: Path, port: int, device: str) -> Path:
    """The example site with its park entrance lamp behind lamp node 40 on the radar bus."""
    config = write_site(tmp, port=port, device=device)
    text = config.read_text()
    lamp = "{id: park-entrance, position_m: 0, nominal_w: 40, floor: 0.5"
    assert lamp in text
    text = text.replace(lamp, f"{lamp}, source: serial, port: radar-bus, node: {NODE}")
    text = text.replace("telemetry: {energy_s: 5, traffic_s: 10}", "telemetry: {energy_s: 1, "
                        "traffic_s: 10}")  # fmt: skip
    config.write_text(text)
    return config


async def _until(check: object, timeout_s: float, what: str) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while not check():  # type: ignore[operator]
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_a_serial_lamp_is_leased_reports_its_state_and_energy_and_fails_safe(
    private_broker: MosquittoBroker, tmp_path: Path, pty_pair: PtyPair
) -> None:
    config = _serial_site(tmp_path, private_broker.port, pty_pair.device)
    clock = Clock(speed=10.0, start=NIGHT)
    skip = [0.0]  # time the test lets pass for the lamp node alone

    def node_time() -> float:
        return clock.monotonic() + skip[0]

    node = FakeNode(node=NODE, counts=False, lamp=True, nominal_w=40.0, status_s=2.0,
                    clock=node_time)  # fmt: skip
    lamp = node.lamp
    assert lamp is not None
    lamp.energy_wh = 500.1  # a driver whose counter has run before
    async with (
        Recorder(private_broker.host, private_broker.port, f"{ROOT}/telemetry/energy") as rec,
        running_gateway(
            config, node_fd=pty_pair.node_fd, clock=clock, bus=(node,), meters=False
        ) as gw,  # the MQTT lamps without counters: ours alone
    ):
        d = gw.daemon
        j = d.controller.lamp_index(LAMP)
        assert LAMP not in gw.fleet.index  # no MQTT lamp node stands in for it
        # Leased over serial: the node's level follows the controller's.
        await _until(lambda: lamp.setpoints and not lamp.in_failsafe(node_time()), 10,
                     "a lease on the lamp node")  # fmt: skip
        await _until(lambda: lamp.level < 0.99, 20, "the lamp dimmed")  # the flow window warm
        await _until(lambda: abs(lamp.level - float(d.controller.level[j])) < 1e-3, 10,
                     "the node at the controller's level")  # fmt: skip
        # LAMP_STATUS back: the lamp's state, as for an MQTT lamp, in `streetlight lamps`.
        await _until(lambda: LAMP in d.ingest.lamp_state, 10, "the lamp's status")
        result = await asyncio.to_thread(
            run_cli, "lamps", "-c", str(config), "--cluster", "cyclepath", "--json", timeout=30
        )
        assert result.returncode == 0, result.stderr
        row = next(r for r in json.loads(result.stdout)["lamps"] if r["id"] == LAMP)
        assert row["reported_level"] is not None
        assert abs(row["reported_level"] - row["level"]) < 0.01
        assert row["faults"] == []
        # Its energy: by its meter, in the ledger and in the energy telemetry.
        await _until(lambda: d.controller.energy.meters()[0].tolist() == [j], 10, "metered")

        def metered() -> float:
            last = [m for _, m, _ in rec.messages if isinstance(m, dict)][-1:]
            cyc = last[0]["clusters"]["cyclepath"] if last else {}
            return float(cyc.get("metered_wh", 0.0)) if cyc.get("metered_lamps") == 1 else 0.0

        await _until(lambda: metered() >= 1.0, 20, "a metered Wh in the telemetry")
        # The node reboots (full, no lease, its seqs from 1): leased again at the next tick,
        # not at the next refresh.
        node.reboot()
        rebooted = time.monotonic()
        await _until(lambda: lamp.setpoints[-1].lease_seq == 1 and lamp.lease_until > 0, 5,
                     "a lease after the reboot")  # fmt: skip
        assert time.monotonic() - rebooted < 2.0  # lease_refresh_s is 3 s of real time
        # The daemon stops: the node holds its lease until it lapses, then fails safe.
        d.stop()
        await asyncio.sleep(0.3)
        assert not lamp.in_failsafe(node_time())
        skip[0] += 100.0  # past the 90 s lease, for the node alone
        assert node.status().flags & FLAG_FAILSAFE
        assert lamp.level_at(node_time()) == lamp.failsafe_level == 1.0


def test_serial_lease_seqs_start_at_1_per_node_and_wrap_past_0() -> None:
    """A node's lease_seq is a u32: after 2^32 - 1 the gateway goes on at 1, and a node that
    compares in serial-number arithmetic takes it as newer."""
    site = load_config(example_config_path())
    lamps = SerialLamps(site, [], {}, on_lost=lambda j: None)
    assert lamps.next_seq("bus", 7) == 1
    lamps._seq[("bus", 7)] = SEQ_MAX - 1
    assert [lamps.next_seq("bus", 7) for _ in range(3)] == [SEQ_MAX, 1, 2]
    assert lamps.hello("bus", 7) is None  # no lamp there; its seqs start again all the same
    assert lamps.next_seq("bus", 7) == 1
    node = LampState(lease_seq=SEQ_MAX)
    assert node.newer(1)
    assert not node.newer(SEQ_MAX)
    assert not node.newer(SEQ_MAX - 5)
    assert LampState(lease_seq=None).newer(12345)
    assert np.array_equal(lamps.mask, np.zeros(0, dtype=bool))


async def test_a_node_silent_for_15_s_is_reported_gone_then_back(
    private_broker: MosquittoBroker, tmp_path: Path, pty_pair: PtyPair
) -> None:
    config = write_site(tmp_path, port=private_broker.port, device=pty_pair.device)
    async with running_gateway(config, node_fd=pty_pair.node_fd) as gw:
        d = gw.daemon
        link = d.links["radar-bus"]
        await _until(lambda: 1 in link.nodes, 10, "the sensor node heard")
        events = d.metrics.events
        link.nodes[1] -= 20.0  # as if its last frame were 20 s old
        await _until(lambda: 1 in link.gone, 5, "the node gone")
        assert events.labels("serial_node_gone", "warning")._value.get() == 1
        await _until(lambda: 1 not in link.gone, 10, "the node back (its heartbeat)")
        assert events.labels("serial_node_back", "info")._value.get() == 1
