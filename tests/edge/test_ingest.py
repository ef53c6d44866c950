"""Ingest's own checks: what a sensor cannot have seen is refused and counted."""

from __future__ import annotations

import json
from collections import Counter

from edge.config import example_config_path, load_config, parse_config
from edge.control import CountsBatch, SensorFault
from edge.daemon._ingest import Ingest
from edge.mqtt import Inbound
from firmware_bridge.frames import Counts, Frame, SensorFaultReport

SITE = load_config(example_config_path())
ROOT = SITE.topic_root


def _ingest(site: object = SITE) -> tuple[Ingest, Counter[tuple[str, str, str]]]:
    results: Counter[tuple[str, str, str]] = Counter()
    ingest = Ingest(site, count=lambda *key: results.update([key]),  # type: ignore[arg-type]
                    max_payload_bytes=4096)  # fmt: skip
    return ingest, results


def _serial_counts(cars: int, interval_ms: int) -> Frame:
    # art-radar-west: radar-bus, node 1, channel 0
    return Frame(1, Counts(node=1, sensor=0, interval_ms=interval_ms, forward=(cars, 0, 0),
                           backward=(0, 0, 0)))  # fmt: skip


def test_counts_beyond_what_a_sensor_can_see_are_refused_and_counted() -> None:
    ingest, results = _ingest()
    # 65,535 cars in 10 ms: 23.6 million an hour
    ingest.on_frame("radar-bus", _serial_counts(65535, 10))
    # 250 cars in 10 s over MQTT: more than the default 20 a second
    body = {"v": 1, "interval_s": 10, "forward": {"car": 150}, "backward": {"car": 100}}
    ingest.on_mqtt(Inbound(topic=f"{ROOT}/sensor/res-radar-north/counts",
                           payload=json.dumps(body).encode()))  # fmt: skip
    assert results[("serial", "counts", "implausible")] == 1
    assert results[("mqtt", "counts", "implausible")] == 1
    assert ingest.drain() == []
    # A busy but possible 10 s: 18 a second, then a presence report of 20 in 0.2 s.
    ingest.on_frame("radar-bus", _serial_counts(18 * 10, 10_000))
    ingest.on_frame("radar-bus", _serial_counts(20, 200))
    batch = ingest.drain()
    assert len(batch) == 1
    assert results[("serial", "counts", "ok")] == 2


def test_many_plausible_reports_cannot_add_up_to_more_than_a_sensor_sees() -> None:
    """A node flooding reports of one road user each: each is plausible, together they are
    not. The sensor's allowance is max_per_s (20) a second, 10 s' worth saved up."""
    now = [0.0]
    results: Counter[tuple[str, str, str]] = Counter()
    ingest = Ingest(SITE, count=lambda *key: results.update([key]), max_payload_bytes=4096,
                    clock=lambda: now[0])  # fmt: skip
    for _ in range(1000):  # 1,000 reports in the same instant
        ingest.on_frame("radar-bus", _serial_counts(1, 10_000))
    assert results[("serial", "counts", "ok")] == 200  # 10 s at 20 a second
    assert results[("serial", "counts", "implausible")] == 800
    now[0] += 1.0  # a second later: 20 more
    for _ in range(30):
        ingest.on_frame("radar-bus", _serial_counts(1, 1_000))
    assert results[("serial", "counts", "ok")] == 220
    # reports of nobody are never refused: they are how a live sensor is told from a dead one
    for _ in range(100):
        ingest.on_frame("radar-bus", _serial_counts(0, 10_000))
    assert results[("serial", "counts", "ok")] == 320


def test_max_per_s_is_set_per_sensor() -> None:
    data = SITE.model_dump()
    data["clusters"][0]["sensors"][0]["max_per_s"] = 200
    ingest, results = _ingest(parse_config(data))
    ingest.on_frame("radar-bus", _serial_counts(1500, 10_000))  # 150 a second: allowed here
    assert results[("serial", "counts", "ok")] == 1
    [batch] = ingest.drain()
    assert isinstance(batch, CountsBatch)
    assert batch.forward.sum() == 1500


def test_a_serial_sensor_fault_is_named_by_the_protocols_table() -> None:
    ingest, _ = _ingest()
    ingest.on_frame("radar-bus", Frame(2, SensorFaultReport(node=1, sensor=0, code=2)))
    [fault] = ingest.drain()
    assert fault == SensorFault(sensor="art-radar-west", faulty=True, reason="tamper")


def test_a_flood_on_one_sensor_leaves_the_tick_a_bounded_amount_of_work() -> None:
    """10,000 detections a second on one MQTT sensor for 5 s (a faulty or hostile node): what
    reaches the controller is what the sensor can see (its max_per_s, with its allowance), so
    the presence tracks, and with them each tick's work, stay bounded; the rest is refused and
    counted, and every other sensor's counts still get through."""
    from edge.site import build_controller

    now = [1_795_900_000.0]  # a November night at the example site
    results: Counter[tuple[str, str, str]] = Counter()
    ingest = Ingest(SITE, count=lambda *key: results.update([key]), max_payload_bytes=4096,
                    clock=lambda: now[0])  # fmt: skip
    ctrl = build_controller(SITE, start=now[0])
    flood = f"{ROOT}/sensor/art-radar-east/counts"
    other = f"{ROOT}/sensor/res-radar-north/counts"
    one_car = json.dumps({"v": 1, "interval_s": 0.01, "forward": {"car": 1}}).encode()
    walker = json.dumps({"v": 1, "interval_s": 1, "forward": {"pedestrian": 1}}).encode()
    tracks = []
    for _tick in range(5):
        for k in range(100):  # 10 ms apart: 100 reports a tick, of 100 cars each
            now[0] += 0.01
            for _ in range(100):
                ingest.on_mqtt(Inbound(topic=flood, payload=one_car))
            if k == 50:
                ingest.on_mqtt(Inbound(topic=other, payload=walker))
        ctrl.step(now[0], ingest.drain())
        tracks.append(ctrl.presence_tracks)
    taken = results[("mqtt", "counts", "ok")]
    refused = results[("mqtt", "counts", "implausible")]
    assert taken + refused == 50_000 + 5
    # 20 a second for 5 s, on top of the 10 s' worth saved up; the walkers all got through
    assert taken <= 20 * 5 + 20 * 10 + 5
    assert refused >= 49_600
    assert max(tracks) <= 20 * 5 + 20 * 10 + 5


def test_a_serial_sensor_or_lamp_is_not_taken_over_mqtt() -> None:
    """A sensor or lamp the config puts behind a serial node reports through that node; the
    same id on MQTT (a misconfigured node, a hostile account) is refused, named and counted."""
    ingest, results = _ingest()
    one_car = json.dumps({"v": 1, "interval_s": 1, "forward": {"car": 1}}).encode()
    ingest.on_mqtt(Inbound(topic=f"{ROOT}/sensor/art-radar-mid/counts", payload=one_car))
    assert results[("mqtt", "counts", "wrong_source")] == 1
    assert ingest.rejections["wrong_source"] == 1
    assert ingest.drain() == []
    ingest.on_mqtt(Inbound(topic=f"{ROOT}/sensor/art-radar-east/counts", payload=one_car))
    assert results[("mqtt", "counts", "ok")] == 1
