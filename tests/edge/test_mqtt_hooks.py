"""The private aiomqtt/paho state edge.mqtt relies on (edge/_mqtt_hooks.py), checked against the
installed versions on a real broker: an upgrade that moves any of it fails here, loudly."""

from __future__ import annotations

import asyncio

import aiomqtt
import paho.mqtt.client as paho

from edge._mqtt_hooks import connection_end, outstanding, paho_client, ping_times
from simulator.harness.broker import MosquittoBroker


async def test_every_hook_reads_what_it_says_on_a_live_connection(
    private_broker: MosquittoBroker,
) -> None:
    client = aiomqtt.Client("127.0.0.1", private_broker.port, identifier="hooks",
                            protocol=aiomqtt.ProtocolVersion.V5, keepalive=5)  # fmt: skip
    async with client:
        inner = paho_client(client)
        assert isinstance(inner, paho.Client)
        end = connection_end(client)
        assert isinstance(end, asyncio.Future)
        assert not end.done()
        assert outstanding(inner) == 0
        info = inner.publish("hooks/t", b"x", qos=1)  # the non-waiting publish
        assert info.rc == 0
        assert outstanding(inner) in (0, 1)  # 1 until its PUBACK
        ping_t, heard = ping_times(inner)
        assert ping_t == 0.0  # no ping out yet
        assert heard > 0.0  # the CONNACK came in
        async with asyncio.timeout(5):
            while outstanding(inner):
                await asyncio.sleep(0.01)
        inner.disconnect()
        async with asyncio.timeout(5):
            await asyncio.shield(end)
    assert end.done()
