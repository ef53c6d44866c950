"""The MQTT session against a real mosquitto: a connection lost while the on-connect step is
still waiting (the daemon's status publish, whose PUBACK will never come) is seen at once."""

from __future__ import annotations

import asyncio
import time

from edge.mqtt import MqttSession
from simulator.harness.broker import MosquittoBroker


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
