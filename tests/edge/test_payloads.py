"""MQTT payloads: inbound ones parse or fail with a reason; outbound ones are the models."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.payloads import (
    ClusterLeasePayload,
    CountsPayload,
    LampStatePayload,
    LeasePayload,
    PayloadError,
    StatusPayload,
    cluster_lease_encoder,
    encode_lease,
    encode_status,
    lease_encoder,
    parse,
)

REASONS = {"oversized", "not_json", "not_object", "version", "invalid", "unknown_kind"}


def _outcome(kind: str, raw: bytes) -> str:
    """ "ok", or the rejection reason; any other exception fails the test."""
    try:
        parse(kind, raw)
    except PayloadError as exc:
        return exc.reason
    return "ok"


def test_counts_parse() -> None:
    raw = json.dumps({"v": 1, "interval_s": 10, "forward": {"car": 2}, "mean_speed_mps": 12.5})
    p = parse("counts", raw.encode())
    assert isinstance(p, CountsPayload)
    assert p.forward.car == 2
    assert p.backward.pedestrian == 0


def test_a_field_this_version_does_not_know_is_tolerated_and_named() -> None:
    """A newer node of the same schema version may add optional fields: the payload is used,
    and the ingest counts it (streetlight_ingest_unknown_fields_total)."""
    from edge.payloads import unknown_fields

    p = parse("counts", b'{"v":1,"interval_s":5,"colour":"red","forward":{"car":1,"tram":2}}')
    assert isinstance(p, CountsPayload)
    assert p.forward.car == 1
    assert unknown_fields(p) == ["colour", "forward.tram"]


def test_lamp_state_parse() -> None:
    raw = b'{"v":1,"level":0.3,"power_w":18.2,"faults":["failsafe"]}'
    p = parse("lamp_state", raw)
    assert isinstance(p, LampStatePayload)
    assert p.faults == ["failsafe"]


@pytest.mark.parametrize(
    ("kind", "raw", "reason", "phrase"),
    [
        ("counts", b"x" * 70000, "oversized", "70000 bytes"),
        ("counts", b"{not json", "not_json", ""),
        ("counts", b"[1,2]", "not_object", "list"),
        ("counts", b'{"v":2,"interval_s":1}', "version", "schema version 2"),
        ("counts", b'{"v":1,"interval_s":0}', "invalid", "interval_s"),
        ("counts", b'{"v":1,"interval_s":5,"forward":{"car":-1}}', "invalid", "forward.car"),
        ("counts", b'{"v":1,"interval_s":5,"forward":{"car":"10"}}', "invalid", "forward.car"),
        ("counts", b'{"v":1,"interval_s":5,"forward":{"car":true}}', "invalid", "forward.car"),
        ("counts", b'{"v":1,"interval_s":"5"}', "invalid", "interval_s"),
        ("counts", b'{"v":1,"interval_s":5,"faulty":1}', "invalid", "faulty"),
        (
            "counts",
            b'{"v":1,"interval_s":5,"forward":{"car":1' + b"0" * 5000 + b"}}",
            "not_json",
            "digits",
        ),
        ("lamp_state", b'{"v":1,"level":1.5}', "invalid", "level"),
        ("lux", b'{"v":1}', "invalid", "lux"),
        ("bogus", b"{}", "unknown_kind", "bogus"),
    ],
)
def test_bad_payloads_are_rejected_with_a_reason(
    kind: str, raw: bytes, reason: str, phrase: str
) -> None:
    with pytest.raises(PayloadError) as info:
        parse(kind, raw)
    assert info.value.reason == reason
    assert phrase in str(info.value)


@settings(max_examples=500)
@given(kind=st.sampled_from(["counts", "lux", "lamp_state"]), raw=st.binary(max_size=300))
def test_random_bytes_never_crash(kind: str, raw: bytes) -> None:
    assert _outcome(kind, raw) in REASONS | {"ok"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


@settings(max_examples=500)
@given(
    kind=st.sampled_from(["counts", "lux", "lamp_state"]),
    body=st.dictionaries(
        st.sampled_from(["v", "interval_s", "forward", "backward", "mean_speed_mps", "lux",
                         "level", "power_w", "faults", "x"]),
        json_values,
    ),
)  # fmt: skip
def test_random_json_objects_never_crash(kind: str, body: dict[str, object]) -> None:
    assert _outcome(kind, json.dumps(body).encode()) in REASONS | {"ok"}


@settings(max_examples=300)
@given(
    levels=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4),
    valid_for_s=st.one_of(st.integers(1, 3600), st.floats(0.001, 3600.0)),
    seq=st.integers(0, 2**53),
)
def test_the_lease_encoder_writes_exactly_what_the_model_would(
    levels: list[float], valid_for_s: float, seq: int
) -> None:
    step = lease_encoder(valid_for_s, seq)  # one step's leases, several levels
    for level in levels:
        model = LeasePayload(level=round(level, 4), valid_for_s=valid_for_s, seq=seq)
        assert step(level) == model.model_dump_json().encode()
        assert encode_lease(level, valid_for_s, seq) == step(level)
        assert LeasePayload.model_validate_json(step(level)) == model


@settings(max_examples=200)
@given(
    levels=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6),
    valid_for_s=st.one_of(st.integers(1, 3600), st.floats(0.001, 3600.0)),
    seq=st.integers(0, 2**53),
)
def test_the_cluster_lease_encoder_writes_exactly_what_the_model_would(
    levels: list[float], valid_for_s: float, seq: int
) -> None:
    lamps = [f"lamp-{k:03d}.a_b" for k in range(len(levels))]
    raw = cluster_lease_encoder(valid_for_s, seq)(lamps, levels)
    rounded = {j: round(v, 4) for j, v in zip(lamps, levels, strict=True)}
    model = ClusterLeasePayload(valid_for_s=valid_for_s, seq=seq, levels=rounded)
    assert raw == model.model_dump_json().encode()
    assert ClusterLeasePayload.model_validate_json(raw) == model


def test_the_status_payloads_are_the_models() -> None:
    online = json.loads(encode_status("online", "b0", "1.2.3"))
    assert StatusPayload.model_validate(online) == StatusPayload(state="online", boot_id="b0",
                                                                 version="1.2.3")  # fmt: skip
    assert json.loads(encode_status("offline", "b0")) == {"v": 1, "state": "offline",
                                                         "boot_id": "b0"}  # fmt: skip


def _doc_examples() -> list[dict[str, object]]:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "mqtt.md").read_text()
    blocks = text.split("```json\n")[1:]
    return [json.loads(b.split("```", 1)[0]) for b in blocks]


def test_the_examples_in_mqtt_md_are_what_the_models_and_encoders_make() -> None:
    """docs/mqtt.md's JSON, example by example: each inbound one parses; each outbound one is
    its model, or has exactly the fields the daemon's record has."""

    from edge.config import example_config_path, load_config
    from edge.daemon._publish import energy_record, traffic_record
    from edge.metrics import ClusterSnapshot
    from edge.site import build_controller

    counts, lux, state, lease, cluster_lease, status, event, energy, traffic = _doc_examples()
    assert isinstance(parse("counts", json.dumps(counts).encode()), CountsPayload)
    assert parse("lux", json.dumps(lux).encode()).lux == 12.5  # type: ignore[attr-defined]
    assert isinstance(parse("lamp_state", json.dumps(state).encode()), LampStatePayload)
    assert json.loads(encode_lease(lease["level"], lease["valid_for_s"], lease["seq"])) == lease  # type: ignore[arg-type]
    levels: dict[str, float] = cluster_lease["levels"]  # type: ignore[assignment]
    encode = cluster_lease_encoder(cluster_lease["valid_for_s"], cluster_lease["seq"])  # type: ignore[arg-type]
    assert json.loads(encode(list(levels), list(levels.values()))) == cluster_lease
    assert StatusPayload.model_validate(status).model_dump(exclude_none=True) == status
    from edge.payloads import EnergyPayload, EventPayload, TrafficPayload

    assert EventPayload.model_validate(event).model_dump() == event
    assert EnergyPayload.model_validate(energy).model_dump() == energy
    assert TrafficPayload.model_validate(traffic).model_dump(by_alias=True) == traffic
    snap = ClusterSnapshot(id="arterial", lamps=20, level=0.41, flow_per_h=212.0, class_step=2,
                           class_level=0.4, failsafe=False, power_w=812.5, faulty_lamps=0,
                           energy_j=1.0, baseline_full_j=1.0, baseline_schedule_j=1.0)  # fmt: skip
    made = energy_record(1795900000.0, (snap,))
    outbox_fields = {"gateway_id", "boot_id", "seq"}  # added by the outbox
    assert set(energy) == set(made) | outbox_fields
    assert set(energy["clusters"]["arterial"]) == set(made["clusters"]["arterial"])  # type: ignore[index]
    site = load_config(example_config_path())
    ctrl = build_controller(site, start=1795900000.0)
    snaps = tuple(snap._replace(id=c.id) for c in site.clusters)
    made = traffic_record(1795900000.0, ctrl, snaps)
    assert set(traffic) == set(made) | outbox_fields
    assert set(traffic["clusters"]["arterial"]) == set(made["clusters"]["arterial"])  # type: ignore[index]
