"""The MQTT session against a real mosquitto: a connection lost while the on-connect step is
still waiting (the daemon's status publish, whose PUBACK will never come) is seen at once; a
broker that is not there is retried with a backoff that doubles up to its cap, and comes back
to the minimum once a connection has lasted (driven by a clock the test moves, no waiting)."""

from __future__ import annotations

import asyncio
import time

from edge.mqtt import MqttSession
from simulator.harness.broker import MosquittoBroker, free_port
from tests.helpers.clock import ManualClock


async def test_a_connection_lost_during_the_on_connect_step_is_seen_at_once(
    private_broker: MosquittoBroker,
) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def on_connect() -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # a publish whose PUBACK never comes
        except asyncio.CancelledError:
            cancelled.set()
            raise

    session = MqttSession(host="127.0.0.1", port=private_broker.port, client_id="on-connect",
                          on_connect=on_connect, reconnect_max_s=1.0)  # fmt: skip
    runner = asyncio.create_task(session.run())
    try:
        async with asyncio.timeout(10):
            await started.wait()
        assert session.is_connected
        private_broker.stop()
        lost = time.monotonic()
        async with asyncio.timeout(5):
            while session.is_connected:
                await asyncio.sleep(0.02)
        assert time.monotonic() - lost < 2.0
        assert cancelled.is_set()  # the step ends with its connection
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_reconnects_back_off_to_the_cap_and_reset_after_a_lasting_connection(
    private_broker: MosquittoBroker,
) -> None:
    clock = ManualClock()
    session = MqttSession(host="127.0.0.1", port=free_port(), client_id="backoff",
                          reconnect_min_s=0.5, reconnect_max_s=8.0, clock=clock)  # fmt: skip
    runner = asyncio.create_task(session.run())
    try:
        await clock.asleep()
        await clock.advance(60.0)  # a minute of the session's time, no broker there
        # Each refused connect sleeps twice the last (half to all of it: jitter), up to 8 s.
        assert session.stats.connect_failures == len(clock.slept) >= 8
        for k, slept in enumerate(clock.slept):
            step = min(0.5 * 2**k, 8.0)
            assert 0.5 * step <= slept <= step, (k, slept)
        # A broker there: the session connects, and its connection lasts past 10 x the minimum
        # + 5 s; lost then, the session tries again after the minimum backoff, not the cap.
        session.port = private_broker.port
        clock.slept.clear()
        await clock.advance(8.0)
        async with asyncio.timeout(10):
            await session.connected.wait()
        await clock.advance(11.0)
        private_broker.stop()
        await clock.asleep()
        assert len(clock.slept) == 1
        assert 0.25 <= clock.slept[0] <= 0.5
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
