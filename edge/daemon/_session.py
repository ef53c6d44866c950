"""The daemon's broker session: what it subscribes to, its client id and its Will."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from edge.config import SiteConfig
from edge.mqtt import Inbound, MqttSession, broker_settings
from edge.payloads import encode_status

__all__ = ["gateway_session"]


def gateway_session(
    site: SiteConfig,
    *,
    boot_id: str,
    handler: Callable[[Inbound], Awaitable[None] | None],
    on_connect: Callable[[], Awaitable[None]],
    extra: Iterable[tuple[str, int]] = (),
) -> MqttSession:
    """Counts, lux, lamp states and commands under the site's root (and the bridge's state
    topic when there is one, and ``extra``); the Will says the gateway is offline."""
    root = site.topic_root
    subscriptions = [
        (f"{root}/sensor/+/counts", 1),
        (f"{root}/sensor/+/lux", 1),
        (f"{root}/lamp/+/state", 1),
        (f"{root}/cmd/+", 1),
    ]
    if site.mqtt.upstream_state_topic:
        subscriptions.append((site.mqtt.upstream_state_topic, 1))
    subscriptions += extra
    return MqttSession(
        **broker_settings(site.mqtt),
        client_id=site.mqtt.client_id or f"streetlight-{site.gateway_id}",
        subscriptions=subscriptions,
        handler=handler,
        on_connect=on_connect,
        will=(f"{root}/status", encode_status("offline", boot_id)),
    )
