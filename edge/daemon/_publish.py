"""What the control loop sends: leases (direct, QoS 1, expiring), events and telemetry (outbox).

``EnergyTotals`` keeps per-cluster energy since the gateway's first boot: the last checkpoint
plus what each step added, so the counters never go backwards across restarts (a crash loses
at most one checkpoint interval).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from edge.control import DimmingController, Event, StepResult
from edge.metrics import ClusterSnapshot
from edge.outbox import PRIORITY, Outbox
from edge.state import StateStore

__all__ = [
    "EnergyTotals",
    "cluster_snapshots",
    "energy_record",
    "event_record",
    "lease_payloads",
    "put_events",
    "traffic_record",
]

log = logging.getLogger("streetlight.daemon")

_LOG_LEVEL = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}


class EnergyTotals:
    """Wh per cluster (actual, full baseline, schedule baseline), monotonic across restarts."""

    def __init__(self, clusters: list[str], state: StateStore) -> None:
        self.clusters = clusters
        self._state = state
        saved: dict[str, list[float]] = state.get("energy", {}) or {}
        self.wh = np.array([saved.get(c, [0.0, 0.0, 0.0]) for c in clusters], dtype=np.float64)
        # Clusters removed from the config keep their history in the checkpoint.
        self._retired = {c: v for c, v in saved.items() if c not in clusters}

    def add(self, result: StepResult) -> None:
        self.wh[:, 0] += result.cluster_wh
        self.wh[:, 1] += result.baseline_full_wh
        self.wh[:, 2] += result.baseline_schedule_wh

    def as_dict(self) -> dict[str, list[float]]:
        out = dict(self._retired)
        out.update(
            {c: [float(x) for x in row] for c, row in zip(self.clusters, self.wh, strict=True)}
        )
        return out

    def rekey(self, clusters: list[str]) -> None:
        """Follow a reloaded config's clusters (same ids keep their totals)."""
        current = self.as_dict()
        self.clusters = clusters
        self.wh = np.array([current.get(c, [0.0, 0.0, 0.0]) for c in clusters], dtype=np.float64)
        self._retired = {c: v for c, v in current.items() if c not in clusters}


def lease_payloads(
    ctrl: DimmingController, result: StepResult, topics: list[str]
) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) for every lamp the step says needs its lease sent, in ``result.send``
    order, made one at a time (the publisher may stop early when the session is full)."""
    tail = f',"valid_for_s":{result.lease_s:g},"seq":{result.seq}}}'
    for j, lvl in zip(result.send.tolist(), result.send_levels.tolist(), strict=True):
        payload = f'{{"v":1,"level":{lvl:.4f}{tail}'
        yield topics[j], payload.encode()


def event_record(event: Event) -> tuple[dict[str, Any], int]:
    """The outbox record for an event (gateway_id, boot_id and seq are added by the outbox)."""
    level = _LOG_LEVEL.get(event.severity, logging.INFO)
    log.log(level, "event %s %s: %s", event.kind, event.subject, event.message)
    record = {
        "v": 1,
        "t": event.t,
        "kind": event.kind,
        "subject": event.subject,
        "severity": event.severity,
        "message": event.message,
        "data": event.data,
    }
    return record, PRIORITY.get(event.severity, 1)


def cluster_snapshots(ctrl: DimmingController, totals: EnergyTotals) -> tuple[ClusterSnapshot, ...]:
    """Per-cluster state for metrics and telemetry (cheap: a few arrays of cluster length)."""
    levels = ctrl.cluster_mean(ctrl.level).tolist()
    faulty = ctrl.cluster_mean(ctrl.lamp_faulty.astype(np.float64)).tolist()
    sizes = ctrl.cluster_sizes.tolist()
    power = ctrl.energy.cluster_power
    return tuple(
        ClusterSnapshot(
            id=cl.id,
            lamps=sizes[k],
            level=levels[k],
            flow_per_h=float(ctrl.cluster_flow[k]),
            class_step=int(ctrl.cluster_step[k]),
            class_level=float(ctrl.cluster_level[k]),
            failsafe=bool(ctrl.cluster_failsafe[k]),
            power_w=float(power[k]),
            faulty_lamps=round(faulty[k] * sizes[k]),
            energy_j=float(totals.wh[k, 0]) * 3600.0,
            baseline_full_j=float(totals.wh[k, 1]) * 3600.0,
            baseline_schedule_j=float(totals.wh[k, 2]) * 3600.0,
        )
        for k, cl in enumerate(ctrl.site.clusters)
    )


def energy_record(now: float, clusters: tuple[ClusterSnapshot, ...]) -> dict[str, Any]:
    """``<root>/telemetry/energy``: cumulative Wh since first boot, and power now."""
    per = {
        c.id: {
            "energy_wh": round(c.energy_j / 3600.0, 3),
            "baseline_full_wh": round(c.baseline_full_j / 3600.0, 3),
            "baseline_schedule_wh": round(c.baseline_schedule_j / 3600.0, 3),
            "power_w": round(c.power_w, 2),
            "level": round(c.level, 4),
        }
        for c in clusters
    }
    return {"v": 1, "t": now, "clusters": per}


def traffic_record(
    now: float, ctrl: DimmingController, clusters: tuple[ClusterSnapshot, ...]
) -> dict[str, Any]:
    """``<root>/telemetry/traffic``: flow, class and fail-safe per cluster."""
    per = {}
    for k, c in enumerate(clusters):
        ladder = ctrl.site.clusters[k].ladder
        per[c.id] = {
            "flow_per_h": round(c.flow_per_h, 1),
            "class": ladder[min(c.class_step, len(ladder) - 1)],
            "failsafe": c.failsafe,
            "level": round(c.level, 4),
        }
    return {"v": 1, "t": now, "clusters": per}


def put_events(outbox: Outbox, topic: str, events: tuple[Event, ...]) -> None:
    for event in events:
        record, priority = event_record(event)
        outbox.put(topic, record, priority=priority)
