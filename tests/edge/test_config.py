"""Config validation: the example is valid; each kind of mistake names its path, exit 2."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.config import load_config, parse_config
from edge.errors import ConfigError
from tests.conftest import EXAMPLE, run_cli


@pytest.fixture
def example() -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE.read_text())
    assert isinstance(data, dict)
    return data


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_example_is_valid_and_has_sixty_lamps() -> None:
    site = load_config(EXAMPLE)
    assert site.gateway_id == "cabinet-0417"
    assert [c.id for c in site.clusters] == ["arterial", "residential", "cyclepath"]
    lamps = site.all_lamps()
    assert len(lamps) == 60
    assert len({lamp.id for lamp in lamps}) == 60
    sources = {s.source for c in site.clusters for s in c.sensors}
    assert sources == {"serial", "mqtt"}


def test_cli_validate_example_exits_zero() -> None:
    result = run_cli("config", "validate", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "60 lamps" in result.stdout


def _mutate_unknown_key(d: dict[str, Any]) -> None:
    d["clusters"][1]["flor"] = 0.2


def _mutate_duplicate_lamp(d: dict[str, Any]) -> None:
    d["clusters"][2]["lamps"].append({"id": "park-entrance", "position_m": 10})


def _mutate_sensor_outside(d: dict[str, Any]) -> None:
    d["clusters"][1]["sensors"][1]["position_m"] = 650


def _mutate_floor_above_ceiling(d: dict[str, Any]) -> None:
    lamps = d["clusters"][2]["lamps"]
    lamps.extend({"id": f"extra-{k}", "position_m": 5 + k} for k in range(5))
    lamps[5]["floor"] = 0.9
    lamps[5]["ceiling"] = 0.6


def _mutate_unknown_class(d: dict[str, Any]) -> None:
    d["clusters"][0]["adapt_classes"] = ["M4", "M9"]


def _mutate_sensor_named_as_the_daemon(d: dict[str, Any]) -> None:
    d["clusters"][1]["sensors"][1]["id"] = f"streetlight-{d['gateway_id']}"


def _mutate_serial_lamp_without_node(d: dict[str, Any]) -> None:
    d["clusters"][2]["lamps"][0].update(source="serial", port="radar-bus")


def _mutate_two_serial_lamps_on_one_node(d: dict[str, Any]) -> None:
    lamps = d["clusters"][2]["lamps"]
    lamps[0].update(source="serial", port="radar-bus", node=40)
    lamps.append({"id": "park-gate", "position_m": 5, "source": "serial", "port": "radar-bus",
                  "node": 40})  # fmt: skip


def _mutate_serial_lamp_on_a_missing_port(d: dict[str, Any]) -> None:
    d["clusters"][2]["lamps"][0].update(source="serial", port="radar-buss", node=40)


def _mutate_node_on_an_mqtt_lamp(d: dict[str, Any]) -> None:
    d["clusters"][2]["lamps"][0].update(node=40)


def _mutate_lamp_array_prefix(d: dict[str, Any]) -> None:
    d["clusters"][1]["lamp_array"]["id_prefix"] = "res/#"  # its lamps' topics would break


BAD = [
    (
        "serial lamp without node",
        _mutate_serial_lamp_without_node,
        "clusters[2].lamps[0].node",
        "a serial lamp needs its node address",
    ),
    (
        "two serial lamps on one node",
        _mutate_two_serial_lamps_on_one_node,
        "clusters[2].lamps[1].node",
        "one lamp per lamp node",
    ),
    (
        "serial lamp on a missing port",
        _mutate_serial_lamp_on_a_missing_port,
        "clusters[2].lamps[0].port",
        "did you mean radar-bus",
    ),
    (
        "node on an mqtt lamp",
        _mutate_node_on_an_mqtt_lamp,
        "clusters[2].lamps[0].source",
        "set source: serial",
    ),
    (
        "lamp array prefix not an id",
        _mutate_lamp_array_prefix,
        "clusters[1].lamp_array.id_prefix",
        "should match pattern",
    ),
    ("unknown key", _mutate_unknown_key, "clusters[1].flor", "unknown key 'flor'"),
    ("duplicate lamp id", _mutate_duplicate_lamp, "clusters[2].lamps[1].id", "duplicate lamp id"),
    (
        "sensor outside road",
        _mutate_sensor_outside,
        "clusters[1].sensors[1].position_m",
        "outside its road",
    ),
    (
        "floor above ceiling",
        _mutate_floor_above_ceiling,
        "clusters[2].lamps[5].floor",
        "above ceiling",
    ),
    (
        "unknown class",
        _mutate_unknown_class,
        "clusters[0].adapt_classes[1]",
        "unknown lighting class 'M9'",
    ),
    (
        "node named as the daemon's client id",
        _mutate_sensor_named_as_the_daemon,
        "clusters[1].sensors[1]",
        "the daemon's MQTT client id",
    ),
]


@pytest.mark.parametrize(("name", "mutate", "path", "phrase"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_path(
    name: str, mutate: Any, path: str, phrase: str, example: dict[str, Any], tmp_path: Path
) -> None:
    data = copy.deepcopy(example)
    mutate(data)
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert [str(i) for i in info.value.issues if i.path == path], info.value.issues
    assert phrase in str(info.value)

    result = run_cli("config", "validate", str(_write(tmp_path, data)))
    assert result.returncode == 2
    assert path in result.stderr
    assert phrase in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("gateway_id: x\nsite: {latitude: 52\nclusters: [}\n")
    result = run_cli("config", "validate", str(path))
    assert result.returncode == 2
    assert "line 3" in result.stderr
    assert "YAML syntax" in result.stderr


def test_duplicate_yaml_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(EXAMPLE.read_text() + "\ngateway_id: other\n")
    with pytest.raises(ConfigError, match="duplicate key 'gateway_id'"):
        load_config(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("config", "validate", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "file not found" in result.stderr


def test_clusters_share_keys_through_an_anchor_and_a_merge_key(
    tmp_path: Path, example: dict[str, Any]
) -> None:
    example.pop("clusters")
    example.pop("profiles", None)
    example.pop("quiet_hours", None)
    clusters = """\
clusters:
  - &street
    id: lindelaan
    length_m: 600
    speed_limit_kmh: 30
    capacity_per_h: 600
    rated_class: P3
    adapt_classes: [P4, P5]
    nominal_w: 35
    floor: 0.3
    lamp_array: {count: 20, spacing_m: 30, start_m: 15}
    sensors: [{id: linde-radar, position_m: 5, source: mqtt}]
  - <<: *street
    id: side-street
    length_m: 300
    lamp_array: {count: 10, spacing_m: 30, start_m: 15}
    sensors: [{id: side-radar, position_m: 5, source: mqtt}]
"""
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(example) + clusters)
    lindelaan, side = load_config(path).clusters
    assert (side.rated_class, side.speed_limit_kmh, side.floor, side.nominal_w) == (
        "P3",
        30,
        0.3,
        35,
    )
    assert (side.length_m, [s.id for s in side.sensors]) == (300, ["side-radar"])
    assert len(side.resolved_lamps()) == 10
    assert lindelaan.length_m == 600


def test_env_overrides_nested(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREETLIGHT_MQTT__PORT", "2883")
    monkeypatch.setenv("STREETLIGHT_CONTROLLER__PRESENCE__HOLD_S", "45")
    monkeypatch.setenv("STREETLIGHT_GATEWAY_ID", "cab-9")
    site = load_config(EXAMPLE)
    assert site.mqtt.port == 2883
    assert site.controller.presence.hold_s == 45
    assert site.topic_root == "streetlight/v1/cab-9"
    assert site.clusters[0].id == "arterial"  # the rest still from the file


def test_env_override_reads_json_and_skips_other_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREETLIGHT_MQTT__TLS", '{"ca_file": "/etc/ssl/ca.pem"}')
    monkeypatch.setenv("streetlight_log_level", "DEBUG")
    monkeypatch.setenv("STREETLIGHT_CONFIG", "/elsewhere.yaml")  # the CLI's, not a key
    site = load_config(EXAMPLE)
    assert site.mqtt.tls is not None
    assert str(site.mqtt.tls.ca_file) == "/etc/ssl/ca.pem"
    assert site.log_level == "DEBUG"
    monkeypatch.setenv("STREETLIGHT_MQTT__TLS", "{not json")
    with pytest.raises(ConfigError, match="STREETLIGHT_MQTT__TLS is not JSON") as info:
        load_config(EXAMPLE)
    assert info.value.issues[0].path == "mqtt.tls"
    monkeypatch.setenv("STREETLIGHT_MQTT__TLS", '{"ca_fil": "x"}')
    with pytest.raises(ConfigError) as info:
        load_config(EXAMPLE)
    assert info.value.issues[0].path == "mqtt.tls.ca_fil"


def test_bad_env_override_names_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREETLIGHT_MQTT__PORT", "not-a-port")
    with pytest.raises(ConfigError) as info:
        load_config(EXAMPLE)
    assert info.value.issues[0].path == "mqtt.port"


def test_lamp_array_generates_ids_and_positions() -> None:
    site = load_config(EXAMPLE)
    res = site.clusters[1].resolved_lamps()
    assert [lamp.id for lamp in res[:3]] == ["res-001", "res-002", "res-003"]
    assert [lamp.position_m for lamp in res[:3]] == [15, 45, 75]
    park = site.clusters[2].resolved_lamps()[0]
    assert (park.id, park.nominal_w, park.floor, park.ceiling) == ("park-entrance", 40, 0.5, 1.0)


def test_models_given_the_same_fields_share_one_set_of_their_names() -> None:
    from simulator.sites import generate_site

    site = parse_config(generate_site(lamps=2_000, gateway_id="gw"))
    sensors = [s for c in site.clusters for s in c.sensors]
    assert len(sensors) > 100
    assert len({id(s.__pydantic_fields_set__) for s in sensors}) == 1
    moved = sensors[0].model_copy(update={"channel": 3})
    assert moved.model_fields_set == sensors[0].model_fields_set | {"channel"}
    assert "channel" not in sensors[1].model_fields_set  # the shared set is not touched
    with pytest.raises(ValueError, match="frozen"):
        sensors[1].position_m = 1.0


def test_schedule_times_accept_yaml_sexagesimal() -> None:
    # Unquoted 23:00 is the integer 1380 in YAML 1.1; it must still mean 23:00.
    data = yaml.safe_load(EXAMPLE.read_text())
    data["energy"]["schedule_baseline"] = yaml.safe_load("- {start: 23:00, level: 0.5}")
    site = parse_config(data)
    assert site.energy.schedule_baseline[0].start.hour == 23


def test_show_json_redacts_password(tmp_path: Path, example: dict[str, Any]) -> None:
    example["mqtt"]["username"] = "gw"
    example["mqtt"]["password"] = "s3cret-p4ss"
    result = run_cli("config", "show", str(_write(tmp_path, example)), "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["mqtt"]["username"] == "gw"
    assert "s3cret-p4ss" not in result.stdout
    assert shown["clusters"][0]["rated_class"] == "M3"


def test_config_example_round_trips() -> None:
    result = run_cli("config", "example")
    assert result.returncode == 0
    assert yaml.safe_load(result.stdout)["gateway_id"] == "cabinet-0417"


def test_config_show_output_loads_back(tmp_path: Path) -> None:
    shown = run_cli("config", "show", str(EXAMPLE))
    assert shown.returncode == 0, shown.stderr
    path = tmp_path / "resolved.yaml"
    path.write_text(shown.stdout)
    assert load_config(path) == load_config(EXAMPLE)


def test_validate_warns_of_a_key_file_open_to_others_and_strict_fails(
    tmp_path: Path, example: dict[str, Any]
) -> None:
    """The daemon refuses a command key open to group or others; validate used to pass it."""
    key = tmp_path / "command.key"
    key.write_text("00" * 32 + "\n")
    key.chmod(0o644)
    data = {**example, "security": {"command_key_file": str(key)}}
    path = _write(tmp_path, data)
    loose = run_cli("config", "validate", str(path))
    assert loose.returncode == 0
    assert "security.command_key_file" in loose.stderr
    assert "(mode 644); chmod 600 it" in loose.stderr
    strict = run_cli("config", "validate", "--strict", str(path))
    assert strict.returncode == 2
    assert "open to group or others" in strict.stderr
    key.chmod(0o600)
    fine = run_cli("config", "validate", "--strict", str(path))
    assert fine.returncode == 0
    assert "warning" not in fine.stderr
