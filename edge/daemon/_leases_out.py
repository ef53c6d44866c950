"""A step's leases out: to the lamp nodes behind serial links, and to the broker for the rest
(one message per lamp, or per cluster with ``mqtt.lease_topic: cluster``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.config import SiteConfig
from edge.control import DimmingController, LampIds, StepResult
from edge.daemon._serial_lamps import SerialLamps
from edge.mqtt import MqttSession
from edge.payloads import CLUSTER_LEASE_MAX_LAMPS, cluster_lease_encoder, lease_encoder

__all__ = ["LeaseTopics", "LeasesOut", "lease_payloads", "lease_topics", "send_leases"]

IntArray = npt.NDArray[np.intp]

_SLICE = 1024  # lamps' leases made per batch when they go one message per lamp


@dataclass(frozen=True)
class LeaseTopics:
    """Where leases go: ``<prefix>/lamp/<id>/set`` per lamp, or ``<prefix>/cluster/<id>/set``
    per cluster (with each lamp's ``cluster`` for the message that carries it). Topics are
    made as they are sent: 100,000 of them kept would cost ~10 MB."""

    prefix: str
    lamp_ids: LampIds
    cluster: IntArray | None = None  # per lamp, when leases go by cluster
    cluster_ids: tuple[str, ...] = ()


def lease_topics(site: SiteConfig, ctrl: DimmingController) -> LeaseTopics:
    """The site's lease topics (``mqtt.lease_topic``), in the controller's lamp order."""
    lamps = ctrl.site.lamps
    if site.mqtt.lease_topic == "cluster":
        clusters = tuple(c.id for c in ctrl.site.clusters)
        return LeaseTopics(site.topic_root, lamps.ids, lamps.cluster, clusters)
    return LeaseTopics(site.topic_root, lamps.ids)


def lease_payloads(
    result: StepResult,
    lamps: IntArray,
    levels: npt.NDArray[np.float64],
    where: LeaseTopics,
) -> Iterator[tuple[str, bytes, IntArray]]:
    """(topic, payload, the lamps it carries) for ``lamps`` (at ``levels``) of the step's
    leases, in the step's order (rises first), made one at a time (the publisher may stop
    early when the session is full)."""
    ids = where.lamp_ids
    if where.cluster is None:
        encode = lease_encoder(result.lease_s, result.seq)
        prefix = f"{where.prefix}/lamp/"
        # a slice at a time: the publisher often stops early, and a refresh of 100,000 lamps
        # as Python lists at once would leave ~20 MB with the allocator
        for at in range(0, len(lamps), _SLICE):
            batch = slice(at, at + _SLICE)
            names = ids.take(lamps[batch])
            for k, (name, lvl) in enumerate(zip(names, levels[batch].tolist(), strict=True)):
                yield f"{prefix}{name}/set", encode(lvl), lamps[at + k : at + k + 1]
        return
    if not len(lamps):
        return
    encode_many = cluster_lease_encoder(result.lease_s, result.seq)
    of = where.cluster[lamps]
    order = np.argsort(of, kind="stable")  # each cluster's lamps together, in step order
    cuts = np.flatnonzero(np.diff(of[order])) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [len(order)]))
    # the clusters in the order of their first lamp in the step: a rise's message first
    first = np.minimum.reduceat(order, starts)
    for g in np.argsort(first, kind="stable").tolist():
        members = order[starts[g] : ends[g]]
        topic = f"{where.prefix}/cluster/{where.cluster_ids[int(of[members[0]])]}/set"
        for k in range(0, len(members), CLUSTER_LEASE_MAX_LAMPS):
            part = members[k : k + CLUSTER_LEASE_MAX_LAMPS]
            carried = lamps[part]
            payload = encode_many(ids.take(carried), levels[part].tolist())
            yield topic, payload, carried


@dataclass(frozen=True, slots=True)
class LeasesOut:
    """What became of a step's leases. Each lamp not in ``sent`` is sent again at the next
    step (``unsent``): those that ``wait`` were never offered (no broker connection, or their
    serial link down), those that ``failed`` were offered and not taken (the session full, the
    client refusing)."""

    sent: int
    failed: IntArray
    wait_broker: IntArray
    wait_serial: IntArray

    @property
    def unsent(self) -> IntArray:
        return np.concatenate([self.failed, self.wait_broker, self.wait_serial])


_NONE = np.empty(0, dtype=np.intp)


def send_leases(
    result: StepResult,
    *,
    serial_lamps: SerialLamps | None,
    mqtt: MqttSession,
    where: LeaseTopics,
    speed: float,
) -> LeasesOut:
    """Hand the step's leases to the serial lamps and the broker (nothing to the broker while
    the session is not connected). A lease expires on the broker with its lease, in the
    clock's time (``speed``)."""
    lamps, levels = result.send, result.send_levels
    sent, wait_serial = 0, _NONE
    if serial_lamps and len(lamps):
        serial = serial_lamps.mask[lamps]
        if serial.any():
            wait_serial = serial_lamps.send(lamps[serial], levels[serial], result.lease_s)
            sent += int(serial.sum()) - len(wait_serial)
            lamps, levels = lamps[~serial], levels[~serial]
    if not len(lamps):
        return LeasesOut(sent, _NONE, _NONE, wait_serial)
    if not mqtt.is_connected:  # at start, or the broker lost: at the first step after it is back
        return LeasesOut(sent, _NONE, lamps, wait_serial)
    expiry = result.lease_s / speed
    handed: list[IntArray] = []
    failed = _NONE
    for topic, payload, carried in lease_payloads(result, lamps, levels, where):
        if not mqtt.publish_nowait(topic, payload, qos=1, expiry_s=expiry):
            # The session is full or the client refused: the rest wait for the next tick.
            taken = np.concatenate(handed) if handed else _NONE
            failed = np.setdiff1d(lamps, taken)
            break
        handed.append(carried)
    return LeasesOut(sent + sum(len(c) for c in handed), failed, _NONE, wait_serial)
