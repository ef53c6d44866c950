"""Home Assistant MQTT discovery: each cluster (and optionally each lamp) as a dimmable light.

Off by default (``home_assistant.enabled``). Discovery configs are retained under
``<discovery_prefix>/light/<gateway_id>/<kind>-<id>/config`` (MQTT light, JSON schema,
brightness 0..100 %), published on every connect and again whenever Home Assistant announces
itself online on ``<discovery_prefix>/status``. Availability follows the gateway's own
``<root>/status`` (the daemon's Will says offline). States are retained under ``<root>/ha/``.

A brightness set from Home Assistant becomes a Set override on the cluster or lamp for
``home_assistant.override_for_s``, never below the night floor (the street is never dark);
"OFF" sets the floor; "ON" without a brightness clears Home Assistant's override (adaptive
again). Home Assistant cannot sign commands: its broker account's ACL is what admits it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from edge._version import __version__
from edge.daemon._command_args import CommandError
from edge.daemon._publish import cluster_snapshots
from edge.daemon._seams import HomeAssistantHost
from edge.metrics import ClusterSnapshot

__all__ = ["HomeAssistant", "entity_id"]

log = logging.getLogger("streetlight.homeassistant")

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
#: what Home Assistant accepts in a discovery topic's node and object segments (else it drops
#: the config as sent on an "illegal discovery topic"); our ids may also hold "."
_NOT_TOPIC_SEGMENT = re.compile(r"[^A-Za-z0-9_-]")


def entity_id(kind: str, gateway_id: str, ident: str) -> str:
    """The entity id a light asks Home Assistant for (``default_entity_id``):
    ``light.streetlight_<gateway>_<kind>_<id>``, lowercased, every run of other characters
    (ids may hold ``-`` and ``.``) an underscore, as Home Assistant's entity ids must be."""
    slug = _NOT_SLUG.sub("_", f"streetlight_{gateway_id}_{kind}_{ident}".lower()).strip("_")
    return f"light.{slug}"


class HomeAssistant:
    """The adapter for one daemon; ``publish_all`` on connect, ``tick`` each control tick."""

    def __init__(self, daemon: HomeAssistantHost) -> None:
        self.d = daemon
        self.cfg = daemon.site.home_assistant
        self.prefix = self.cfg.discovery_prefix
        self.status_topic = f"{self.prefix}/status"
        self.command_prefix = f"{daemon.root}/ha/"
        self._last: dict[str, int] = {}  # state topic -> brightness % published last
        self._last_all = -1e18

    # ------------------------------------------------------------------ entities
    def entities(self) -> list[tuple[str, str, str]]:
        """(kind, id, name) of every light: clusters, then lamps when configured."""
        out = [("cluster", c.id, c.name or c.id) for c in self.d.site.clusters]
        if self.cfg.lamps:
            out += [("lamp", lamp, f"Lamp {lamp}") for lamp in self.d.controller.site.lamps.ids]
        return out

    def subscriptions(self) -> list[tuple[str, int]]:
        return [(self.status_topic, 1), (f"{self.command_prefix}+/+/set", 1)]

    def discovery(self, kind: str, ident: str, name: str) -> tuple[str, dict[str, Any]]:
        gw, root = self.d.site.gateway_id, self.d.root
        base = f"{root}/ha/{kind}/{ident}"
        config = {
            "name": name,
            "unique_id": f"streetlight_{gw}_{kind}_{ident}",
            "default_entity_id": entity_id(kind, gw, ident),
            "schema": "json",
            "command_topic": f"{base}/set",
            "state_topic": f"{base}/state",
            "supported_color_modes": ["brightness"],
            "brightness_scale": 100,
            "qos": 1,
            "retain": False,
            "optimistic": False,
            "availability": [
                {
                    "topic": f"{root}/status",
                    "value_template": "{{ value_json.state }}",
                    "payload_available": "online",
                    "payload_not_available": "offline",
                }
            ],
            "device": {
                "identifiers": [f"streetlight_{gw}"],
                "name": f"Street cabinet {gw}",
                "manufacturer": "streetlight-edge",
                "model": "edge gateway",
                "sw_version": __version__,
            },
            "origin": {"name": "streetlight-edge", "sw_version": __version__},
        }
        node, obj = (_NOT_TOPIC_SEGMENT.sub("_", s) for s in (gw, f"{kind}-{ident}"))
        return f"{self.prefix}/light/{node}/{obj}/config", config

    def _levels(self, clusters: Sequence[ClusterSnapshot]) -> list[tuple[str, float]]:
        """(state topic, level) of every entity now (cluster levels from the tick's snapshot)."""
        ctrl = self.d.controller
        root = self.d.root
        out = [(f"{root}/ha/cluster/{c.id}/state", c.level) for c in clusters]
        if self.cfg.lamps:
            lamp_levels = np.asarray(ctrl.level).tolist()
            out += [
                (f"{root}/ha/lamp/{lamp}/state", lamp_levels[j])
                for j, lamp in enumerate(ctrl.site.lamps.ids)
            ]
        return out

    # ------------------------------------------------------------------ publishing
    def publish_all(self) -> None:
        """Discovery configs (retained), then every state: on connect and on HA online."""
        for kind, ident, name in self.entities():
            topic, config = self.discovery(kind, ident, name)
            self.d.mqtt.publish_nowait(topic, json.dumps(config).encode(), qos=1, retain=True)
        self._last.clear()
        self.tick(self.d.clock.time(), cluster_snapshots(self.d.controller, self.d.energy))
        log.info("home assistant: discovery published for %d lights", len(self.entities()))

    def tick(self, now: float, clusters: Sequence[ClusterSnapshot]) -> None:
        """States that changed by a whole percent, and all of them every ``state_s``."""
        refresh = now - self._last_all >= self.cfg.state_s
        if refresh:
            self._last_all = now
        for topic, level in self._levels(clusters):
            pct = round(level * 100)
            if not refresh and self._last.get(topic) == pct:
                continue
            state: dict[str, Any] = {"state": "ON" if pct > 0 else "OFF"}
            if pct > 0:
                state.update(brightness=pct, color_mode="brightness")
            if self.d.mqtt.publish_nowait(topic, json.dumps(state).encode(), qos=1, retain=True):
                self._last[topic] = pct

    # ------------------------------------------------------------------ commands
    def on_message(self, topic: str, payload: bytes) -> None:
        if topic == self.status_topic:
            if payload.strip() == b"online":
                self.publish_all()  # Home Assistant restarted: it needs the configs again
            return
        try:
            kind, ident, _ = topic[len(self.command_prefix) :].split("/")
            self._command(kind, ident, payload)
        except (ValueError, CommandError) as err:
            self.d.count_ingest("mqtt", "ha_command", "invalid")
            log.warning("home assistant command on %s refused: %s", topic, err)
            return
        self.d.count_ingest("mqtt", "ha_command", "ok")

    def _command(self, kind: str, ident: str, payload: bytes) -> None:
        known = {(k, i) for k, i, _ in self.entities()}
        if (kind, ident) not in known:
            raise ValueError(f"unknown light {kind} {ident!r}")
        body = json.loads(payload)
        if not isinstance(body, dict) or body.get("state") not in ("ON", "OFF"):
            raise ValueError(
                f'expected {{"state": "ON"|"OFF", "brightness": 0..100}}, not {body!r}'
            )
        if not self.d.commands.bucket.take():
            raise ValueError("rate limited (security.commands_per_s)")
        ctrl = self.d.controller
        sel = ctrl.select(ident)
        floor = float(np.max(ctrl.site.lamps.floor if sel is None else ctrl.site.lamps.floor[sel]))
        oid = f"ha-{kind}-{ident}"
        if body["state"] == "ON" and "brightness" not in body:
            if any(o.id == oid for o in ctrl.overrides):
                self.d.commands.clear({"key": oid})
            return
        if body["state"] == "OFF":
            level = floor
        else:
            brightness = body["brightness"]
            if not isinstance(brightness, int | float) or not 0 <= brightness <= 100:
                raise ValueError(f"brightness {brightness!r} is outside 0..100")
            level = max(floor, float(brightness) / 100.0)
        self.d.commands.override(
            {"id": oid, "target": ident, "level": level, "op": "set",
             "for_s": self.cfg.override_for_s, "reason": "home assistant"}
        )  # fmt: skip
        self._last.clear()  # show the new target at the next tick
