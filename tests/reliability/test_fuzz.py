"""Bad input: every inbound MQTT payload type, the serial stream and the command verbs, fuzzed
through the daemon's own ingest and the control core behind it; and a stateful test of the
setpoint machine (controller -> lossy delivery -> lamp nodes).

Pass: no exception anywhere; each message ends in exactly one counted result, and a rejection
carries a known reason; whatever gets through never makes a level NaN, outside [0, 1], or (at
night, without an explicit --allow-dark override) below a lamp's floor.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from edge.clock import Clock
from edge.config import example_config_path, load_config
from edge.control import Override
from edge.daemon import Daemon
from edge.daemon._ingest import Ingest
from edge.mqtt import Inbound
from edge.payloads import LeasePayload
from edge.site import build_controller
from firmware_bridge.frames import (
    SENSOR_FAULT_CODES,
    Counts,
    Deframer,
    Lux,
    SensorFaultReport,
    encode_frame,
)
from simulator.harness.live import LampFleet
from tests.helpers.gateway import NIGHT

SITE = load_config(example_config_path())
ROOT = SITE.topic_root
SENSORS = sorted({s.id for c in SITE.clusters for s in c.sensors})
MQTT_SENSORS = sorted({s.id for c in SITE.clusters for s in c.sensors if s.source == "mqtt"})
LAMPS = sorted(lamp.id for lamp in SITE.all_lamps())
INGEST_RESULTS = {
    "ok",
    "unknown_topic",
    "unknown_id",
    "not_lux_sensor",
    "oversized",
    "not_json",
    "not_object",
    "version",
    "invalid",
    "unknown_kind",
    "retained",
    "cleared",
    "implausible",
    "wrong_source",
}
COMMAND_RESULTS = {
    "ok",
    "unknown_verb",
    "unknown_id",
    "invalid",
    "needs_allow_dark",
    "not_json",
    "oversized",
    "retained",
    "cleared",
    "version",
}

numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.5, 1e308, -0.0]),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = [
    "v",
    "interval_s",
    "forward",
    "backward",
    "mean_speed_mps",
    "faulty",
    "lux",
    "level",
    "power_w",
    "energy_wh",
    "faults",
    "car",
    "bike",
    "pedestrian",
]


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Near-valid objects (v=1 and real field names, wild values), random JSON or raw bytes."""
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.binary(max_size=200))
    if choice == 1:
        return json.dumps(draw(json_values)).encode()
    body: dict[str, object] = {"v": 1}
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=6)):
        if key in ("forward", "backward"):
            body[key] = draw(
                st.dictionaries(
                    st.sampled_from(["car", "bike", "pedestrian", "x"]), numbers, max_size=3
                )
            )
        else:
            body[key] = draw(json_values)
    if choice == 3:  # a size the daemon must refuse before parsing
        body["pad"] = "x" * draw(st.integers(60_000, 70_000))
    return json.dumps(body, allow_nan=True).encode()


# Mostly plausible values, one in eight wild (huge, negative, NaN, infinite).
gentle = st.integers(0, 7).flatmap(
    lambda k: numbers if k == 0 else st.one_of(st.integers(0, 60), st.floats(0.001, 60.0))
)


@st.composite
def near_valid(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    """A message of a known id and kind whose values are valid-looking, or not quite."""
    kind = draw(st.sampled_from(["counts", "lux", "state"]))
    if kind == "state":
        topic = f"{ROOT}/lamp/{draw(st.sampled_from(LAMPS))}/state"
        body: dict[str, object] = {
            "v": 1,
            "level": draw(st.one_of(st.floats(0, 1), numbers)),
            "power_w": draw(gentle),
            "energy_wh": draw(gentle),
            "faults": draw(st.lists(st.sampled_from(["failsafe", "driver", "x"]), max_size=2)),
        }
    elif kind == "lux":
        topic = f"{ROOT}/sensor/{SITE.controller.night.lux_sensor or SENSORS[0]}/lux"
        body = {"v": 1, "lux": draw(gentle)}
    else:
        topic = f"{ROOT}/sensor/{draw(st.sampled_from(MQTT_SENSORS))}/counts"
        counts = st.dictionaries(st.sampled_from(["car", "bike", "pedestrian"]), gentle, max_size=3)
        body = {
            "v": 1,
            "interval_s": draw(gentle),
            "forward": draw(counts),
            "backward": draw(counts),
        }
        if draw(st.booleans()):
            body["mean_speed_mps"] = draw(gentle)
        if draw(st.booleans()):
            body["faulty"] = draw(st.booleans())
    return topic, json.dumps(body, allow_nan=True).encode(), draw(st.booleans())


topics = st.one_of(
    st.sampled_from(SENSORS).map(lambda s: f"{ROOT}/sensor/{s}/counts"),
    st.sampled_from(SENSORS).map(lambda s: f"{ROOT}/sensor/{s}/lux"),
    st.sampled_from(LAMPS).map(lambda s: f"{ROOT}/lamp/{s}/state"),
    st.sampled_from(["nope", "art-001 ", ""]).map(lambda s: f"{ROOT}/sensor/{s}/counts"),
    st.text(max_size=30).map(lambda s: f"{ROOT}/{s}"),
)


def _check_levels(level: np.ndarray, night: bool, floor: np.ndarray) -> None:
    assert np.isfinite(level).all()
    assert (level >= 0).all()
    assert (level <= 1).all()
    if night:
        assert (level >= floor - 1e-9).all()


class _Core:
    """Ingest + controller on a virtual clock, as the daemon wires them."""

    def __init__(self) -> None:
        self.results: Counter[str] = Counter()
        self.ingest = Ingest(SITE, count=self._count, max_payload_bytes=SITE.mqtt.max_payload_bytes)
        self.ctrl = build_controller(SITE, start=NIGHT)
        self.now = NIGHT
        self.floor = self.ctrl.site.lamps.floor * self.ctrl.site.lamps.clo

    def _count(self, source: str, kind: str, result: str) -> None:
        self.results[result] += 1

    def step(self) -> None:
        self.now += SITE.controller.tick_s
        result = self.ctrl.step(self.now, self.ingest.drain())
        _check_levels(self.ctrl.level, result.night, self.floor)
        assert np.isfinite(result.cluster_wh).all()


def test_fuzzed_mqtt_payloads_are_each_counted_once_and_never_upset_the_controller() -> None:
    core = _Core()

    @settings(max_examples=300, derandomize=True)  # the same examples each run: no flake
    @given(
        messages=st.lists(
            st.one_of(st.tuples(topics, bodies(), st.booleans()), near_valid()),
            min_size=1,
            max_size=8,
        )
    )
    def run(messages: list[tuple[str, bytes, bool]]) -> None:
        for topic, payload, retain in messages:
            before = core.results.total()
            core.ingest.on_mqtt(Inbound(topic=topic, payload=payload, retain=retain))
            assert core.results.total() == before + 1
        assert set(core.results) <= INGEST_RESULTS
        core.step()

    run()
    print("mqtt fuzz results", dict(core.results))
    assert core.results["ok"] > 50  # many reached the controller
    assert len(core.results) >= 5  # and many kinds of rejection were met


u16 = st.integers(0, 0xFFFF)
serial_messages = st.one_of(
    st.builds(
        Counts,
        node=st.integers(0, 3),
        sensor=st.integers(0, 2),
        interval_ms=st.integers(1, 0xFFFFFFFF),
        forward=st.lists(u16, min_size=3, max_size=3).map(tuple),
        backward=st.lists(u16, min_size=3, max_size=3).map(tuple),
        mean_speed_cms=st.one_of(st.none(), st.integers(0, 0xFFFE)),
    ),
    st.builds(
        SensorFaultReport,
        node=st.integers(0, 3),
        sensor=st.integers(0, 2),
        code=st.sampled_from(sorted(SENSOR_FAULT_CODES)),
    ),
    st.builds(Lux, node=st.integers(0, 3), lux=st.integers(0, 0xFFFFFFFF).map(lambda v: v / 10)),
)


def test_fuzzed_serial_streams_never_crash_ingest_or_the_controller() -> None:
    core = _Core()

    @settings(max_examples=300, derandomize=True)  # the same examples each run: no flake
    @given(
        stream=st.lists(
            st.one_of(
                st.tuples(serial_messages, u16).map(lambda m: encode_frame(*m)),
                st.binary(max_size=64),
            ),
            min_size=1,
            max_size=12,
        )
    )
    def run(stream: list[bytes]) -> None:
        deframer = Deframer()
        for frame in deframer.feed(b"".join(stream)):
            before = core.results.total()
            core.ingest.on_frame("radar-bus", frame)
            assert core.results.total() == before + 1
        assert set(core.results) <= INGEST_RESULTS
        core.step()

    run()
    print("serial fuzz results", dict(core.results))
    assert core.results["ok"] > 0
    assert core.results["unknown_id"] > 0


VERBS = [
    "ping",
    "status",
    "clusters",
    "lamps",
    "energy",
    "explain",
    "override",
    "overrides",
    "clear",
    "reboot",
    "",
]
ARG_KEYS = [
    "target",
    "level",
    "op",
    "for_s",
    "allow_dark",
    "reason",
    "lamp",
    "cluster",
    "key",
    "since",
]


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(bodies())
    args = {
        k: draw(st.one_of(json_values, st.sampled_from([*LAMPS[:3], "all", "arterial"])))
        for k in draw(st.lists(st.sampled_from(ARG_KEYS), max_size=5))
    }
    return json.dumps(
        {"v": draw(st.sampled_from([1, 1, 2, "1"])), "args": args}, allow_nan=True
    ).encode()


def test_fuzzed_commands_are_answered_with_a_known_code_and_never_fail_inside(
    tmp_path_factory: object,
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        site = SITE.model_copy(
            update={
                "storage": SITE.storage.model_copy(update={"state_dir": Path(tmp)}),
                # the rate limit is tested on its own (tests/security): here, every command
                "security": SITE.security.model_copy(
                    update={"commands_per_s": 1e9, "command_burst": 10**9}
                ),
            }
        )
        daemon = Daemon(site, clock=Clock(speed=1.0, start=NIGHT))
        results: Counter[str] = Counter()
        daemon.count_ingest = lambda source, kind, result: results.update([result])  # type: ignore[method-assign]
        loop = asyncio.new_event_loop()

        @settings(max_examples=400, derandomize=True)
        @given(verb=st.sampled_from(VERBS), payload=requests(), retain=st.booleans())
        def run(verb: str, payload: bytes, retain: bool) -> None:
            before = results.total()
            msg = Inbound(topic=f"{ROOT}/cmd/{verb}", payload=payload, retain=retain)
            loop.run_until_complete(daemon.commands.answer(verb, msg))
            assert results.total() == before + 1
            assert set(results) <= COMMAND_RESULTS, results

        try:
            run()
        finally:
            loop.close()
            daemon.outbox.close()
            daemon.state.close()
    assert results["ok"] > 0
    assert sum(v for k, v in results.items() if k != "ok") > 0


class SetpointMachine(RuleBasedStateMachine):
    """The controller's leases over a lossy link to lamp nodes that keep only newer seqs."""

    def __init__(self) -> None:
        super().__init__()
        self.ctrl = build_controller(SITE, start=NIGHT, seq_base=1000)
        self.fleet = LampFleet(SITE, host="127.0.0.1", port=1, clock=Clock(speed=1.0, start=NIGHT))
        self.now = NIGHT
        self.last_seq = np.full(self.ctrl.n_lamps, -1, dtype=np.int64)
        self.floor = self.ctrl.site.lamps.floor * self.ctrl.site.lamps.clo
        self.lossy = False
        self.dark_override = False

    def _deliver(self, result: object, drop: float, rng: np.random.Generator) -> None:
        for j, level, seq in zip(
            result.send.tolist(), result.send_levels.tolist(), result.send_seq.tolist(), strict=True
        ):  # type: ignore[attr-defined]
            assert seq > self.last_seq[j], "a lamp's seq went backwards"
            self.last_seq[j] = seq
            if rng.random() < drop:
                continue
            payload = LeasePayload(v=1, level=level, valid_for_s=result.lease_s, seq=seq)  # type: ignore[attr-defined]
            self.fleet.epoch = self.now - self.fleet.clock.monotonic()  # the nodes' time
            self.fleet._on_set(
                Inbound(
                    topic=f"{ROOT}/lamp/{self.fleet.ids[j]}/set",
                    payload=payload.model_dump_json().encode(),
                )
            )

    @rule(
        dt=st.floats(0.1, 45.0), drop=st.sampled_from([0.0, 0.0, 0.3, 1.0]), seed=st.integers(0, 99)
    )
    def advance(self, dt: float, drop: float, seed: int) -> None:
        rng = np.random.default_rng(seed)
        steps = max(1, int(dt / SITE.controller.tick_s))
        self.lossy = self.lossy or drop > 0
        for _ in range(steps):
            self.now += SITE.controller.tick_s
            result = self.ctrl.step(self.now)
            self._deliver(result, drop, rng)
            self.fleet.nodes.tick(self.now, SITE.controller.tick_s)
            if result.night and not self.dark_override:
                assert (self.fleet.output >= self.floor - 1e-9).all(), "a lamp node below its floor"

    @rule()
    def reconnect(self) -> None:
        self.ctrl.force_refresh()

    @rule(
        level=st.floats(0.0, 1.0),
        op=st.sampled_from(["set", "min", "max"]),
        for_s=st.floats(1, 600),
        who=st.sampled_from(["all", "arterial", "res-004"]),
        dark=st.booleans(),
    )
    def override(self, level: float, op: str, for_s: float, who: str, dark: bool) -> None:
        self.dark_override = self.dark_override or dark
        self.ctrl.add_override(
            Override(
                id=f"o{self.now}",
                target=who,
                op=op,
                level=level,  # type: ignore[arg-type]
                expires_at=self.now + for_s,
                created_at=self.now,
                allow_dark=dark,
            )
        )

    @precondition(lambda self: not self.lossy)
    @invariant()
    def no_lamp_lapses_while_every_lease_arrives(self) -> None:
        # Leases are refreshed well before they lapse: a perfect link never sees failsafe.
        if self.now > NIGHT:
            assert not (self.now >= self.fleet.nodes.lease_until).any()

    @invariant()
    def levels_are_sane(self) -> None:
        level = self.ctrl.level
        assert np.isfinite(level).all()
        assert not math.isnan(float(level.sum()))


SetpointMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=20, deadline=None)
test_setpoint_machine = SetpointMachine.TestCase
