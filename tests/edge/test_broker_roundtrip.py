"""The harness itself: a private mosquitto carries a message end to end."""

from __future__ import annotations

import asyncio

import aiomqtt

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
