"""The only place that touches aiomqtt's and paho's private state.

aiomqtt has no public way to: publish without waiting for the PUBACK (leases), see how many
QoS 1 messages await their PUBACK (backpressure before paho's ids wrap), wait for the end of a
connection without its message iterator, or see when paho's last ping went out and its last
byte came in (a dead link found within ~1.25x keepalive instead of 2x). Each hook reads its
attribute without a default: after an upgrade that renames one it raises instead of quietly
turning a feature off, and ``tests/edge/test_mqtt_hooks.py`` checks them all against the
installed versions.
"""

from __future__ import annotations

import asyncio

import aiomqtt
import paho.mqtt.client as paho

__all__ = ["connection_end", "outstanding", "paho_client", "ping_times"]


def paho_client(client: aiomqtt.Client) -> paho.Client:
    """The paho client aiomqtt drives (for its non-waiting publish, disconnect, socket)."""
    inner = client._client
    assert isinstance(inner, paho.Client)
    return inner


def connection_end(client: aiomqtt.Client) -> asyncio.Future[None]:
    """The future aiomqtt resolves when the connection ends (what its iterator waits on)."""
    future: asyncio.Future[None] = client._disconnected
    return future


def outstanding(client: paho.Client) -> int:
    """QoS > 0 messages paho holds until they are acknowledged."""
    return len(client._out_messages)


def ping_times(client: paho.Client) -> tuple[float, float]:
    """(when paho's unanswered PINGREQ went out, 0 if none; when it last heard a byte), on the
    monotonic clock."""
    return float(client._ping_t or 0), float(client._last_bytes_received or 0)
