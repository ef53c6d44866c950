"""The only place that touches aiomqtt's and paho's private state.

aiomqtt has no public way to: publish without waiting for the PUBACK (leases), see how many
QoS 1 messages await their PUBACK (backpressure before paho's ids wrap), wait for the end of a
connection without its message iterator, or see when paho's last ping went out and its last
byte came in (a dead link found within ~1.25x keepalive instead of 2x), tell a refused
connection from silence (the OSError it keeps as its error's context), or turn Nagle off on
its socket. Each hook reads its attribute without a default: after an upgrade that renames
one it raises instead of quietly turning a feature off, and ``tests/edge/test_mqtt_hooks.py``
checks them all against the installed versions.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

import aiomqtt
import paho.mqtt.client as paho
from aiomqtt.exceptions import MqttConnectError  # a negative CONNACK (not exported at the top)

__all__ = [
    "connection_end",
    "no_delay",
    "outstanding",
    "paho_client",
    "ping_times",
    "refusal_of",
]


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


def refusal_of(exc: aiomqtt.MqttError) -> str | None:
    """Why a connection attempt was answered with a no (nothing listens on the port, the broker
    refused the client, the host name does not exist), or None when the attempt met silence or
    a fault that may pass (a timeout, a network that is down)."""
    if isinstance(exc, MqttConnectError):  # MQTT 5: a reason code; 3.1.1: a message
        return f"the broker refused the client: {exc.args[0] if exc.args else exc.rc}"
    cause = exc.__cause__ or exc.__context__  # aiomqtt keeps the OSError only as the context
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused: nothing listens on that port"
    if isinstance(cause, socket.gaierror) and cause.errno == socket.EAI_NONAME:
        return "no such host name"
    return None


def no_delay(client: aiomqtt.Client) -> None:
    """Small writes go out at once (TCP_NODELAY; paho leaves Nagle on): else a lease written
    just after a PUBACK waits for the broker's delayed ACK of it, 40 ms on Linux."""
    sock = paho_client(client).socket()
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
