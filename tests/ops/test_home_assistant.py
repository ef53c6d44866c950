"""Home Assistant MQTT discovery, seen the way Home Assistant sees it, on a real broker.

A subscriber on `homeassistant/#` plays Home Assistant: it checks every discovery payload and
state against the documented schema (tests/helpers/ha_schema.py), announces itself online to
get the configs again, dims a cluster and turns one "off", and sees availability follow the
gateway's status.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from edge.config import load_config
from tests.helpers.broker import MosquittoBroker
from tests.helpers.gateway import Recorder, running_gateway, write_site
from tests.helpers.ha_schema import (
    ENTITY_ID,
    discovery_topic_problems,
    light_config_problems,
    light_state_problems,
)

ROOT = "streetlight/v1/cabinet-0417"
HA = "\nhome_assistant: {enabled: true, lamps: true, override_for_s: 600, state_s: 5}\n"


def _configs(rec: Recorder) -> dict[str, dict[str, Any]]:
    return {
        t: body
        for t, body, _ in rec.messages
        if t.startswith("homeassistant/light/") and isinstance(body, dict)
    }


def _latest(rec: Recorder, topic: str) -> Any:
    bodies = [body for t, body, _ in rec.messages if t == topic]
    return bodies[-1] if bodies else None


def test_home_assistant_is_off_by_default(tmp_path: Path) -> None:
    site = load_config(write_site(tmp_path, port=1883))
    assert site.home_assistant.enabled is False


@pytest.mark.timeout(90)
async def test_discovery_states_commands_and_availability_as_home_assistant_sees_them(
    private_broker: MosquittoBroker, tmp_path: Path
) -> None:
    b = private_broker
    config = write_site(tmp_path, port=b.port, extra=HA)
    async with (
        running_gateway(config) as gw,
        Recorder(b.host, b.port, "homeassistant/#") as ha,
        Recorder(b.host, b.port, f"{ROOT}/ha/#") as states,
    ):
        lamps = len(gw.fleet.ids)
        await gw.until(lambda: len(_configs(ha)) == 3 + lamps, 15, "every discovery config")
        configs = _configs(ha)
        for topic, cfg in configs.items():
            assert discovery_topic_problems(topic) == []
            assert light_config_problems(cfg) == [], topic
        assert len({c["unique_id"] for c in configs.values()}) == 3 + lamps
        # The entity ids asked for: current Home Assistant reads default_entity_id only.
        entity_ids = {c["default_entity_id"] for c in configs.values()}
        assert len(entity_ids) == 3 + lamps
        assert "light.streetlight_cabinet_0417_cluster_arterial" in entity_ids
        assert "light.streetlight_cabinet_0417_lamp_art_001" in entity_ids
        clusters = {c["name"]: c for c in configs.values() if "_cluster_" in c["unique_id"]}
        assert len(clusters) == 3
        # Every light has a retained state in the documented format.
        await gw.until(
            lambda: all(_latest(states, c["state_topic"]) for c in configs.values()), 15, "states"
        )
        for cfg in configs.values():
            assert light_state_problems(_latest(states, cfg["state_topic"]), cfg) == []
        # Availability: what value_template reads out of the status payload.
        (avail,) = next(iter(configs.values()))["availability"]
        assert avail["value_template"] == "{{ value_json.state }}"
        async with Recorder(b.host, b.port, avail["topic"]) as status:
            await gw.until(lambda: bool(status.messages), 10, "retained status")
            assert _latest(status, avail["topic"])["state"] == avail["payload_available"]

        # Home Assistant restarts and says so: the configs come again.
        ha.messages.clear()
        async with aiomqtt.Client(b.host, b.port) as client:
            await client.publish("homeassistant/status", b"online", qos=1)
            await gw.until(lambda: len(_configs(ha)) == 3 + lamps, 10, "configs again")

            # Dim a cluster to 90 %: an override, and the state follows.
            arterial = next(c for c in configs.values() if c["unique_id"].endswith("_arterial"))
            await client.publish(arterial["command_topic"], b'{"state": "ON", "brightness": 90}')
            ctrl = gw.daemon.controller
            await gw.until(lambda: any(o.id == "ha-cluster-arterial" for o in ctrl.overrides), 10)
            override = next(o for o in ctrl.overrides if o.id == "ha-cluster-arterial")
            assert (override.op, override.level, override.target) == ("set", 0.9, "arterial")
            await gw.until(
                lambda: (_latest(states, arterial["state_topic"]) or {}).get("brightness") == 90,
                15,
                "state at 90 %",
            )
            # "OFF" never darkens the street: the override goes to the cluster's floor.
            await client.publish(arterial["command_topic"], b'{"state": "OFF"}')
            await gw.until(
                lambda: next(o for o in ctrl.overrides if o.id == override.id).level < 0.9
            )
            floor = float(ctrl.site.lamps.floor[ctrl.select("arterial")].max())
            assert next(o for o in ctrl.overrides if o.id == override.id).level == floor
            # "ON" without a brightness: adaptive again.
            await client.publish(arterial["command_topic"], b'{"state": "ON"}')
            await gw.until(lambda: all(o.id != override.id for o in ctrl.overrides), 10)
            # Nonsense is refused and counted, never applied.
            before = len(ctrl.overrides)
            for bad in (b"not json", b'{"state": "ON", "brightness": 500}', b'{"state": "DIM"}'):
                await client.publish(arterial["command_topic"], bad)
            await client.publish(f"{ROOT}/ha/cluster/no-such/set", b'{"state": "OFF"}')
            counter = gw.daemon.metrics.ingest.labels("mqtt", "ha_command", "invalid")
            await gw.until(lambda: counter._value.get() == 4, 10, "four refusals counted")
            assert len(ctrl.overrides) == before
    # The daemon stopped cleanly: its status, which availability follows, says offline.
    async with Recorder(b.host, b.port, f"{ROOT}/status") as status:
        async with asyncio.timeout(10):
            while not status.messages:
                await asyncio.sleep(0.05)
        assert _latest(status, f"{ROOT}/status")["state"] == avail["payload_not_available"]


@pytest.mark.timeout(60)
async def test_ids_with_dots_and_capitals_still_make_legal_topics_and_entity_ids(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    """Gateway and lamp ids may hold "." and capitals; Home Assistant drops a config on a
    topic with a "." in it and wants entity ids in lowercase."""
    path = write_site(tmp_path, port=broker.port, extra=HA)
    path.write_text(path.read_text().replace("gateway_id: cabinet-0417", "gateway_id: Kast.0417"))
    async with (
        running_gateway(path) as gw,
        Recorder(broker.host, broker.port, "homeassistant/light/Kast_0417/#") as ha,
    ):
        want = 3 + len(gw.fleet.ids)
        await gw.until(lambda: len(_configs(ha)) == want, 15, "every discovery config")
        configs = _configs(ha)
    for topic, cfg in configs.items():
        assert discovery_topic_problems(topic) == []
        assert light_config_problems(cfg) == [], topic
        assert cfg["state_topic"].startswith("streetlight/v1/Kast.0417/ha/")
        assert ENTITY_ID.match(cfg["default_entity_id"])
    assert len({c["default_entity_id"] for c in configs.values()}) == want
    assert "light.streetlight_kast_0417_cluster_arterial" in {
        c["default_entity_id"] for c in configs.values()
    }
