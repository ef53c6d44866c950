"""A step's leases as MQTT messages: one per lamp, or one per cluster (rises first, at most
CLUSTER_LEASE_MAX_LAMPS lamps each), and which lamps wait for the next tick when the session
refuses one."""

from __future__ import annotations

import dataclasses
import tempfile
from typing import Any

import numpy as np

from edge.config import parse_config
from edge.control import StepResult
from edge.daemon._leases_out import lease_payloads, lease_topics, send_leases
from edge.payloads import CLUSTER_LEASE_MAX_LAMPS, ClusterLeasePayload, LeasePayload
from edge.site import build_controller
from simulator.sites import generate_site

NIGHT = 1_795_906_800.0  # 2026-11-28 23:00 UTC


def _first_step(lease_topic: str) -> tuple[Any, Any, StepResult]:
    doc = generate_site(lamps=1000, clusters=2)  # 500 lamps a cluster
    doc["storage"] = {"state_dir": tempfile.mkdtemp()}
    doc["mqtt"] = {"lease_topic": lease_topic}
    site = parse_config(doc)
    ctrl = build_controller(site, start=NIGHT)
    return site, ctrl, ctrl.step(NIGHT + 1.0)  # every lamp's first lease


class _Session:
    """Takes ``room`` messages, then refuses (a full session): no broker can be made to
    refuse at an exact message, so this stands in for MqttSession.publish_nowait."""

    is_connected = True

    def __init__(self, room: int) -> None:
        self.room, self.taken = room, []  # type: list[tuple[str, bytes]]

    def publish_nowait(self, topic: str, payload: bytes, **_: Any) -> bool:
        if len(self.taken) >= self.room:
            return False
        self.taken.append((topic, payload))
        return True


def test_cluster_messages_carry_each_lamp_once_in_its_cluster_at_most_200_a_message() -> None:
    site, ctrl, result = _first_step("cluster")
    where = lease_topics(site, ctrl)
    assert len(result.send) == 1000
    seen: dict[str, float] = {}
    messages = list(lease_payloads(result, result.send, result.send_levels, where))
    assert len(messages) == 6  # 500 lamps a cluster: 200 + 200 + 100, twice
    for topic, payload, carried in messages:
        lease = ClusterLeasePayload.model_validate_json(payload)
        assert len(lease.levels) == len(carried) <= CLUSTER_LEASE_MAX_LAMPS
        assert lease.seq == result.seq
        assert lease.valid_for_s == result.lease_s
        clusters = set(ctrl.site.lamps.cluster[carried].tolist())
        assert len(clusters) == 1
        assert topic == f"{site.topic_root}/cluster/{ctrl.site.clusters[clusters.pop()].id}/set"
        assert list(lease.levels) == [ctrl.site.lamps.ids[j] for j in carried.tolist()]
        seen.update(lease.levels)
    assert sorted(seen) == sorted(ctrl.site.lamps.ids)


def test_the_cluster_with_a_rise_goes_first() -> None:
    site, ctrl, result = _first_step("cluster")
    second = ctrl.cluster_slice(1)
    rise = np.arange(second.start, second.start + 3)
    rest = np.setdiff1d(result.send, rise)
    step = dataclasses.replace(result, send=np.concatenate([rise, rest]),
                               send_levels=np.ones(len(result.send)))  # fmt: skip
    where = lease_topics(site, ctrl)
    topics = [t for t, _, _ in lease_payloads(step, step.send, step.send_levels, where)]
    assert topics[0].endswith(f"/cluster/{ctrl.site.clusters[1].id}/set")
    assert topics[-1].endswith(f"/cluster/{ctrl.site.clusters[0].id}/set")


def test_per_lamp_messages_are_the_lamp_topics() -> None:
    site, ctrl, result = _first_step("lamp")
    messages = list(lease_payloads(result, result.send[:3], result.send_levels[:3],
                                   lease_topics(site, ctrl)))  # fmt: skip
    assert [t for t, _, _ in messages] == [
        f"{site.topic_root}/lamp/{ctrl.site.lamps.ids[j]}/set" for j in result.send[:3].tolist()
    ]
    assert all(LeasePayload.model_validate_json(p).seq == result.seq for _, p, _ in messages)


def test_what_a_full_session_refuses_waits_for_the_next_tick_lamp_by_lamp() -> None:
    for lease_topic, room in (("cluster", 2), ("lamp", 250)):
        site, ctrl, result = _first_step(lease_topic)
        session = _Session(room)
        out = send_leases(result, serial_lamps=None, mqtt=session,  # type: ignore[arg-type]
                          where=lease_topics(site, ctrl), speed=1.0)  # fmt: skip
        sent, unsent = out.sent, out.failed
        assert sent == (400 if lease_topic == "cluster" else 250)
        assert len(unsent) == 1000 - sent
        assert len(out.wait_broker) == len(out.wait_serial) == 0
        taken = set()
        for topic, payload in session.taken:
            if lease_topic == "cluster":
                taken |= set(ClusterLeasePayload.model_validate_json(payload).levels)
            else:
                taken.add(topic.rsplit("/", 2)[-2])
        names = {ctrl.site.lamps.ids[j] for j in unsent.tolist()}
        assert not names & taken
        assert names | taken == set(ctrl.site.lamps.ids)
