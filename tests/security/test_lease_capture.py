"""Leases are unsigned: what a lamp node does with one it should not obey.

The ACL lets only the daemon write ``<root>/lamp/+/set`` (``test_broker_acl.py``); these are
the lamp node's own rules for a lease that gets past it (docs/mqtt.md), on the simulated lamp
node (``LampFleet``, the reference for firmware) against a real mosquitto.
"""

from __future__ import annotations

import asyncio
import json

import aiomqtt

from edge.clock import Clock
from edge.config import example_config_path, load_config
from simulator.harness.broker import MosquittoBroker
from simulator.harness.live import MAX_LEASE_S, SEQ_WINDOW, LampFleet
from tests.helpers.gateway import NIGHT

SITE = load_config(example_config_path())
ROOT = SITE.topic_root
LAMP = "art-001"


def _lease(level: float, seq: int, valid_for_s: float = 90.0) -> bytes:
    return json.dumps({"v": 1, "level": level, "valid_for_s": valid_for_s, "seq": seq}).encode()


async def _until(cond: object, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not cond():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def test_a_lamp_node_refuses_retained_stale_and_far_ahead_leases(
    private_broker: MosquittoBroker,
) -> None:
    port = private_broker.port
    topic = f"{ROOT}/lamp/{LAMP}/set"
    clock = Clock(speed=1.0, start=NIGHT)
    fleet = LampFleet(SITE, host="127.0.0.1", port=port, clock=clock)
    j = fleet.index[LAMP]
    async with aiomqtt.Client("127.0.0.1", port, identifier="hostile",
                              protocol=aiomqtt.ProtocolVersion.V5) as hostile:  # fmt: skip
        # Before the node is up: a retained lease with a seq no daemon will reach in 3,000
        # years and a level of 0 (it would capture the lamp at every reconnect).
        await hostile.publish(topic, _lease(0.0, 10**14), qos=1, retain=True)
        runner = asyncio.create_task(fleet.run())
        try:
            await _until(lambda: fleet.refused["retained"] == 1)
            assert fleet.leases == 0

            async with aiomqtt.Client("127.0.0.1", port, identifier="daemon",
                                      protocol=aiomqtt.ProtocolVersion.V5) as daemon:  # fmt: skip
                seq = 1_795_000_000_000  # the daemon's seqs start at the wall clock in ms
                await daemon.publish(topic, _lease(0.5, seq), qos=1)
                await _until(lambda: fleet.leases == 1)
                # While that lease is in force: a seq far beyond it, a stale one, a duplicate.
                await hostile.publish(topic, _lease(0.0, seq + SEQ_WINDOW + 1), qos=1)
                await hostile.publish(topic, _lease(0.0, seq - 1), qos=1)
                await hostile.publish(topic, _lease(0.0, seq), qos=1)
                await _until(lambda: fleet.refused["seq_jump"] + fleet.refused["stale"] == 3)
                assert dict(fleet.refused) == {"retained": 1, "seq_jump": 1, "stale": 2}
                assert fleet.lease_seq[j] == seq
                # The daemon's next lease (one tick later) is obeyed.
                await daemon.publish(topic, _lease(0.6, seq + 1), qos=1)
                await _until(lambda: fleet.leases == 2)
                # A lease asking to be held for a day is held MAX_LEASE_S at most.
                await daemon.publish(topic, _lease(0.7, seq + 2, valid_for_s=86_400), qos=1)
                await _until(lambda: fleet.leases == 3)
                held = fleet.nodes.lease_until[j] - fleet.now()
                assert MAX_LEASE_S - 5 < held <= MAX_LEASE_S
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await fleet.session.disconnect()


async def test_after_its_lease_lapses_a_node_takes_a_lower_seq() -> None:
    """A daemon that lost its state and whose wall clock is behind (a Pi without RTC booting at
    1970) sends lower seqs than the node applied; once the lease in force lapses the node takes
    them, so an out-of-order seq costs one lease length in failsafe, never control for good."""
    from edge.mqtt import Inbound

    clock = Clock(speed=1.0, start=NIGHT)
    fleet = LampFleet(SITE, host="127.0.0.1", port=1, clock=clock)
    j = fleet.index[LAMP]
    topic = f"{ROOT}/lamp/{LAMP}/set"
    fleet._on_set(Inbound(topic=topic, payload=_lease(0.5, 1_795_000_000_000, valid_for_s=2)))
    fleet._on_set(Inbound(topic=topic, payload=_lease(0.4, 1000, valid_for_s=90)))
    assert fleet.refused["stale"] == 1
    fleet.epoch += 3  # three seconds on the node's own clock: the first lease has lapsed
    fleet._on_set(Inbound(topic=topic, payload=_lease(0.4, 1000, valid_for_s=90)))
    assert fleet.lease_seq[j] == 1000
    assert fleet.leases == 2
