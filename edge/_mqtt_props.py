"""MQTT v5 PUBLISH properties: Message Expiry, Response Topic, Correlation Data."""

from __future__ import annotations

import functools

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["publish_properties"]


@functools.lru_cache(maxsize=64)
def _expiry(seconds: int) -> Properties:
    """One shared Properties per expiry: a tick's leases all carry the same one (paho only
    reads it when it packs each message)."""
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.MessageExpiryInterval = seconds
    return props


def publish_properties(
    expiry_s: float | None, response_topic: str | None, correlation: bytes | None
) -> Properties | None:
    """The properties of a publish, or None when it has none."""
    if expiry_s is None and response_topic is None and correlation is None:
        return None
    if response_topic is None and correlation is None and expiry_s is not None:
        return _expiry(max(1, round(expiry_s)))
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if expiry_s is not None:
        props.MessageExpiryInterval = max(1, round(expiry_s))
    if response_topic is not None:
        props.ResponseTopic = response_topic
    if correlation is not None:
        props.CorrelationData = correlation
    return props
