"""Home Assistant's MQTT light discovery schema (JSON schema variant), as documented.

Home Assistant cannot run here (not packaged for Debian, and far too large for a test), so the
discovery payloads are checked against its documented options instead: the keys of the MQTT
light platform with `schema: json` (https://www.home-assistant.io/integrations/light.mqtt/,
"JSON schema" section; the common MQTT entity options: availability, device, origin, qos,
unique_id, default_entity_id) with their types, and the state payload format of that schema.

Current Home Assistant (2026.4 and later) as its MQTT integration reads a discovery message:
- `object_id` is gone (deprecated in 2025.10, ignored since 2026.4): the entity id a
  publisher asks for is `default_entity_id`, a whole entity id of the platform's domain,
  `light.<object id>`, the object id lowercase letters, digits and single underscores
  (`homeassistant/core`: `helpers/config_validation.py` `entity_id`, `core.py`
  `VALID_ENTITY_ID`);
- the discovery topic is `<prefix>/<component>/[<node_id>/]<object_id>/config` with node and
  object ids of `[a-zA-Z0-9_-]` only (`components/mqtt/discovery.py` `TOPIC_MATCHER`); a
  message on any other topic is dropped ("illegal discovery topic").
"""

from __future__ import annotations

import re
from typing import Any

#: option -> accepted Python types (documented options of the JSON-schema MQTT light).
LIGHT_JSON_OPTIONS: dict[str, tuple[type, ...]] = {
    "availability": (list,),
    "availability_mode": (str,),
    "availability_template": (str,),
    "availability_topic": (str,),
    "brightness": (bool,),
    "brightness_scale": (int,),
    "command_topic": (str,),
    "default_entity_id": (str,),
    "device": (dict,),
    "effect": (bool,),
    "effect_list": (list,),
    "enabled_by_default": (bool,),
    "encoding": (str,),
    "entity_category": (str,),
    "entity_picture": (str,),
    "flash": (bool,),
    "flash_time_long": (int,),
    "flash_time_short": (int,),
    "icon": (str,),
    "json_attributes_template": (str,),
    "json_attributes_topic": (str,),
    "max_kelvin": (int,),
    "max_mireds": (int,),
    "min_kelvin": (int,),
    "min_mireds": (int,),
    "name": (str, type(None)),
    "optimistic": (bool,),
    "origin": (dict,),
    "payload_available": (str,),
    "payload_not_available": (str,),
    "platform": (str,),
    "qos": (int,),
    "retain": (bool,),
    "schema": (str,),
    "state_topic": (str,),
    "supported_color_modes": (list,),
    "transition": (bool,),
    "unique_id": (str,),
    "white_scale": (int,),
}
REQUIRED = ("command_topic",)
COLOR_MODES = {"onoff", "brightness", "color_temp", "hs", "xy", "rgb", "rgbw", "rgbww", "white"}
AVAILABILITY_KEYS = {"topic", "payload_available", "payload_not_available", "value_template"}
DEVICE_KEYS = {
    "configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model",
    "model_id", "name", "serial_number", "suggested_area", "sw_version", "via_device",
}  # fmt: skip
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
#: options Home Assistant no longer reads, and what replaced them
REMOVED = {"object_id": "default_entity_id (light.<object id>)"}
_OBJECT_ID = r"(?!_)[\da-z_]+(?<!_)"
ENTITY_ID = re.compile(r"^(?!.+__)" + _OBJECT_ID + r"\." + _OBJECT_ID + r"$")
#: what follows ``<prefix>/`` in a discovery topic (Home Assistant strips its prefix first)
DISCOVERY_TOPIC = re.compile(
    r"^(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config$"
)


def _no_wildcards(topic: str) -> bool:
    return bool(topic) and "#" not in topic and "+" not in topic


def light_config_problems(config: dict[str, Any]) -> list[str]:
    """Why Home Assistant would reject or misread this discovery payload ([] = none)."""
    bad = [f"{k!r} was removed: use {REMOVED[k]}" for k in config if k in REMOVED]
    bad += [
        f"unknown option {k!r}" for k in config if k not in LIGHT_JSON_OPTIONS and k not in REMOVED
    ]
    bad += [
        f"{k} should be {'/'.join(t.__name__ for t in LIGHT_JSON_OPTIONS[k])}"
        for k, v in config.items()
        if k in LIGHT_JSON_OPTIONS and not isinstance(v, LIGHT_JSON_OPTIONS[k])
    ]
    bad += [f"missing {k}" for k in REQUIRED if k not in config]
    entity = config.get("default_entity_id")
    if isinstance(entity, str) and not (ENTITY_ID.match(entity) and entity.startswith("light.")):
        bad.append(f"default_entity_id {entity!r} is not an entity id light.<object id>")
    if config.get("schema") != "json":
        bad.append("schema must be 'json' for a JSON state/command payload")
    for key in ("command_topic", "state_topic"):
        if key in config and not _no_wildcards(config[key]):
            bad.append(f"{key} must be a topic without wildcards")
    modes = config.get("supported_color_modes", [])
    if not modes or not set(modes) <= COLOR_MODES:
        bad.append(f"supported_color_modes {modes!r} (one or more of {sorted(COLOR_MODES)})")
    if len(modes) > 1 and {"onoff", "brightness"} & set(modes):
        bad.append("onoff and brightness cannot be combined with other color modes")
    if not 1 <= config.get("brightness_scale", 255) <= 65535:
        bad.append("brightness_scale must be 1..65535")
    if config.get("qos", 0) not in (0, 1, 2):
        bad.append("qos must be 0, 1 or 2")
    for item in config.get("availability", []):
        if not isinstance(item, dict) or "topic" not in item or set(item) - AVAILABILITY_KEYS:
            bad.append(f"availability entry {item!r}")
    device = config.get("device", {})
    if set(device) - DEVICE_KEYS or not (device.get("identifiers") or device.get("connections")):
        bad.append(f"device {device!r} (needs identifiers; known keys only)")
    origin = config.get("origin", {"name": "(none given)"})
    if set(origin) - ORIGIN_KEYS or "name" not in origin:
        bad.append("origin needs a name (known keys only)")
    return bad


def discovery_topic_problems(topic: str, prefix: str = "homeassistant") -> list[str]:
    """Why Home Assistant would drop a light's config sent on ``topic`` ([] = none)."""
    head, _, rest = topic.partition(f"{prefix}/")
    m = DISCOVERY_TOPIC.match(rest) if head == "" else None
    if m is None:
        return [f"{topic!r} is not {prefix}/light/[<node_id>/]<object_id>/config ([a-zA-Z0-9_-])"]
    if m["component"] != "light":
        return [f"{topic!r} is not under the light component"]
    return []


def light_state_problems(state: Any, config: dict[str, Any]) -> list[str]:
    """Why this JSON-schema state payload would not parse for ``config``."""
    if not isinstance(state, dict):
        return [f"state payload {state!r} is not a JSON object"]
    bad = []
    if state.get("state") not in ("ON", "OFF", None):
        bad.append(f"state {state.get('state')!r} is not ON, OFF or null")
    if "brightness" in state:
        b = state["brightness"]
        if not isinstance(b, int) or not 0 <= b <= config.get("brightness_scale", 255):
            bad.append(f"brightness {b!r} outside 0..brightness_scale")
    if "color_mode" in state and state["color_mode"] not in config["supported_color_modes"]:
        bad.append(f"color_mode {state['color_mode']!r} not in supported_color_modes")
    return bad
