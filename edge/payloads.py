"""MQTT payloads: pydantic models at the boundary, in and out (docs/mqtt.md is normative).

Inbound payloads are parsed here; outbound ones are made here: leases (a fast encoder, held
byte-equal to its model by a test), status, and the outbox's records (events and telemetry),
which the outbox stamps with gateway_id, boot_id and seq (the ``...Payload`` models are what
is published).

``parse(kind, raw)`` turns bytes from the broker into a model or raises ``PayloadError`` with
a short ``reason`` (for the ingest counter) and a human detail; it never raises anything else.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.errors import StreetlightError

__all__ = [
    "CLUSTER_LEASE_MAX_LAMPS",
    "MAX_PAYLOAD_BYTES",
    "SCHEMA_VERSION",
    "ClusterEnergy",
    "ClusterLeasePayload",
    "ClusterTraffic",
    "CountsPayload",
    "EnergyPayload",
    "EnergyRecord",
    "EventPayload",
    "EventRecord",
    "LampStatePayload",
    "LeasePayload",
    "LuxPayload",
    "PayloadError",
    "StatusPayload",
    "TrafficPayload",
    "TrafficRecord",
    "cluster_lease_encoder",
    "encode_lease",
    "encode_status",
    "lease_encoder",
    "parse",
    "unknown_fields",
]

SCHEMA_VERSION = 1
MAX_PAYLOAD_BYTES = 65536
Count = Annotated[int, Field(ge=0, le=100_000)]


class PayloadError(StreetlightError):
    """An inbound payload that cannot be used; ``reason`` is a low-cardinality label."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1


class _Inbound(_Payload):
    """What nodes send: strict types (``"10"`` is not a number, ``true`` not a count); a
    field this version does not know is tolerated (a newer node of the same schema version
    may add optional ones), and ``unknown_fields`` names it for the ingest to count."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)


class DirectionCounts(BaseModel):
    """Road users per kind travelling one way."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    car: Count = 0
    bike: Count = 0
    pedestrian: Count = 0


class CountsPayload(_Inbound):
    """``<root>/sensor/<sensor_id>/counts`` (in): road users past a sensor in an interval."""

    interval_s: float = Field(gt=0, le=3600)
    forward: DirectionCounts = DirectionCounts()
    backward: DirectionCounts = DirectionCounts()
    mean_speed_mps: float | None = Field(default=None, ge=0, le=100)
    faulty: bool = False


class LuxPayload(_Inbound):
    """``<root>/sensor/<sensor_id>/lux`` (in): ambient light."""

    lux: float = Field(ge=0, le=200_000)


class LampStatePayload(_Inbound):
    """``<root>/lamp/<lamp_id>/state`` (in): what a lamp node says it is doing."""

    level: float = Field(ge=0, le=1)
    power_w: float | None = Field(default=None, ge=0, le=10_000)
    energy_wh: float | None = Field(default=None, ge=0)
    faults: list[Literal["lamp_failure", "driver_fault", "failsafe", "day_burning", "overtemp"]] = (
        Field(default_factory=list, max_length=8)
    )
    lease_left_s: float | None = Field(default=None, ge=0)


class LeasePayload(_Payload):
    """``<root>/lamp/<lamp_id>/set`` (out): hold ``level`` for ``valid_for_s``, then failsafe."""

    level: float = Field(ge=0, le=1)
    valid_for_s: float = Field(gt=0)
    seq: int = Field(ge=0)


class ClusterLeasePayload(_Payload):
    """``<root>/cluster/<cluster_id>/set`` (out, with ``mqtt.lease_topic: cluster``): one
    step's leases for lamps of one cluster; each lamp holds its ``levels`` entry as a
    ``LeasePayload`` with this ``valid_for_s`` and ``seq``."""

    valid_for_s: float = Field(gt=0)
    seq: int = Field(ge=0)
    levels: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(min_length=1)


#: the most lamps one cluster lease message carries (a bigger share of a cluster in one
#: step goes out in several messages): about 5 KB, within any node's buffer
CLUSTER_LEASE_MAX_LAMPS = 200


class StatusPayload(_Payload):
    """``<root>/status`` (out, retained; also the MQTT Will with state "offline")."""

    state: Literal["online", "offline"]
    version: str | None = None
    boot_id: str | None = None


class _Stamped(BaseModel):
    """What the outbox adds to a record on its way out: who sent it, which run, and its
    place in that run's sequence (a gap in seq is a record lost)."""

    gateway_id: str
    boot_id: str
    seq: int = Field(ge=0)


class _Record(_Payload):
    """A record as the daemon puts it in its outbox (the outbox stamps it)."""

    t: float


class EventRecord(_Record):
    """An event as the daemon raises it."""

    kind: str
    subject: str
    severity: Literal["info", "warning", "critical"] = "info"
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class EventPayload(EventRecord, _Stamped):
    """``<root>/event`` (out, from the outbox)."""


class ClusterEnergy(BaseModel):
    """One cluster's energy since first boot (Wh) and its power now."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    energy_wh: float
    modelled_wh: float
    metered_wh: float
    meter_difference_wh: float
    metered_lamps: int = Field(ge=0)
    baseline_full_wh: float
    baseline_schedule_wh: float
    power_w: float
    level: float


class EnergyRecord(_Record):
    clusters: dict[str, ClusterEnergy]


class EnergyPayload(EnergyRecord, _Stamped):
    """``<root>/telemetry/energy`` (out, from the outbox)."""


class ClusterTraffic(BaseModel):
    """One cluster's measured flow, the class it runs at, and fail-safe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flow_per_h: float
    lighting_class: str = Field(alias="class")
    failsafe: bool
    level: float


class TrafficRecord(_Record):
    clusters: dict[str, ClusterTraffic]

    def encoded(self) -> dict[str, Any]:
        """As published: the lighting class under its key, ``class``."""
        return self.model_dump(by_alias=True)


class TrafficPayload(TrafficRecord, _Stamped):
    """``<root>/telemetry/traffic`` (out, from the outbox)."""


def lease_encoder(valid_for_s: float, seq: int) -> Callable[[float], bytes]:
    """The payload of a step's lease at a level: byte for byte
    ``LeasePayload(...).model_dump_json()`` with the level rounded to 1/10000 (a test holds
    them equal), made without building the model, and with what a step's leases share made
    once, because the daemon sends thousands a tick."""
    head = b'{"v":1,"level":'
    tail = f',"valid_for_s":{float(valid_for_s)!r},"seq":{seq}}}'.encode()

    def encode(level: float) -> bytes:
        return head + repr(round(level, 4)).encode() + tail

    return encode


def cluster_lease_encoder(
    valid_for_s: float, seq: int
) -> Callable[[list[str], list[float]], bytes]:
    """The payload of a step's leases for some lamps of one cluster: byte for byte
    ``ClusterLeasePayload(...).model_dump_json()`` with levels rounded to 1/10000 (a test
    holds them equal). Lamp ids are config ids (letters, digits, ``_.-``): no escaping."""
    head = f'{{"v":1,"valid_for_s":{float(valid_for_s)!r},"seq":{seq},"levels":{{'.encode()

    def encode(lamps: list[str], levels: list[float]) -> bytes:
        body = ",".join(f'"{j}":{round(v, 4)!r}' for j, v in zip(lamps, levels, strict=True))
        return head + body.encode() + b"}}"

    return encode


def encode_lease(level: float, valid_for_s: float, seq: int) -> bytes:
    """One lease's payload (``lease_encoder`` for many of one step)."""
    return lease_encoder(valid_for_s, seq)(level)


def encode_status(state: Literal["online", "offline"], boot_id: str, version: str | None = None
                  ) -> bytes:  # fmt: skip
    """``<root>/status``: the retained online message, and the offline one (also the Will)."""
    payload = StatusPayload(state=state, version=version, boot_id=boot_id)
    return payload.model_dump_json(exclude_none=True).encode()


INBOUND: dict[str, type[_Inbound]] = {
    "counts": CountsPayload,
    "lux": LuxPayload,
    "lamp_state": LampStatePayload,
}


def unknown_fields(payload: BaseModel) -> list[str]:
    """The fields of an inbound payload this version does not know (dotted paths)."""
    out = [str(k) for k in payload.model_extra or {}]
    for name in ("forward", "backward"):
        inner = getattr(payload, name, None)
        if isinstance(inner, BaseModel):
            out += [f"{name}.{k}" for k in inner.model_extra or {}]
    return out


def parse(kind: str, raw: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> _Inbound:
    """Validate an inbound payload of ``kind`` ("counts", "lux", "lamp_state")."""
    model = INBOUND.get(kind)
    if model is None:
        raise PayloadError("unknown_kind", f"no inbound payload kind {kind!r}")
    if len(raw) > max_bytes:
        raise PayloadError("oversized", f"{len(raw)} bytes, limit {max_bytes}")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, a 5,000-digit int
        raise PayloadError("not_json", str(exc)[:200]) from None
    if not isinstance(data, dict):
        raise PayloadError("not_object", f"expected a JSON object, got {type(data).__name__}")
    if data.get("v") != SCHEMA_VERSION:
        raise PayloadError(
            "version", f"schema version {data.get('v')!r}, expected {SCHEMA_VERSION}"
        )
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "(payload)"
        raise PayloadError("invalid", f"{where}: {first['msg']}") from None
