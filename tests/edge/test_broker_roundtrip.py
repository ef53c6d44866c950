"""The harness itself: a private mosquitto carries a message end to end."""

from __future__ import annotations

import asyncio

import aiomqtt

from edge.mqtt import Inbound, MqttSession
from tests.helpers.broker import MosquittoBroker


async def test_publish_subscribe_roundtrip(broker: MosquittoBroker) -> None:
    async with (
        aiomqtt.Client(broker.host, broker.port, identifier="rt-sub") as sub,
        aiomqtt.Client(broker.host, broker.port, identifier="rt-pub") as pub,
    ):
        await sub.subscribe("test/roundtrip", qos=1)
        await pub.publish("test/roundtrip", b'{"v":1}', qos=1)
        async with asyncio.timeout(5):
            message = await anext(sub.messages)
        assert message.topic.matches("test/roundtrip")
        assert message.payload == b'{"v":1}'


async def test_private_broker_restarts_on_same_port(private_broker: MosquittoBroker) -> None:
    port = private_broker.port
    private_broker.restart()
    assert private_broker.running
    assert private_broker.port == port
    async with aiomqtt.Client(private_broker.host, port, identifier="rt-after-restart") as c:
        await c.publish("test/alive", b"1", qos=1)


async def test_a_flood_the_handler_cannot_keep_up_with_is_queued_then_dropped_and_counted(
    broker: MosquittoBroker,
) -> None:
    """The session's queue holds mqtt.queue_size messages: a QoS 0 flood against a handler
    that is stuck drops the oldest, counts every drop, and shows how full the queue is (the
    daemon's streetlight_mqtt_incoming_dropped_total and _queued)."""
    release = asyncio.Event()
    started: list[bytes] = []
    handled: list[bytes] = []

    async def slow(msg: Inbound) -> None:
        started.append(msg.payload)
        await release.wait()
        handled.append(msg.payload)

    session = MqttSession(
        host=broker.host, port=broker.port, client_id="rt-flood",
        subscriptions=[("test/flood", 0)], handler=slow, queue_size=10,
    )  # fmt: skip
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(session.run(), name="rt-flood-session")
        async with asyncio.timeout(10):
            await session.connected.wait()
        async with aiomqtt.Client(broker.host, broker.port, identifier="rt-flooder") as pub:
            for k in range(200):
                await pub.publish("test/flood", str(k).encode(), qos=0)
        async with asyncio.timeout(10):
            while session.stats.received < 200:
                await asyncio.sleep(0.02)
        assert session.queued == 10
        # the one the stuck handler took and the 10 queued were kept; every other dropped
        assert len(started) == 1
        assert session.stats.dropped_in == 200 - 10 - 1
        release.set()
        async with asyncio.timeout(10):
            while len(handled) < 11:
                await asyncio.sleep(0.02)
        assert handled[-10:] == [str(k).encode() for k in range(190, 200)]  # the newest kept
        task.cancel()
