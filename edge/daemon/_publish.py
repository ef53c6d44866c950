"""What the control loop sends: leases (direct, QoS 1, expiring), events and telemetry (outbox).

``EnergyTotals`` keeps per-cluster energy since the gateway's first boot: the last checkpoint
plus what each step added, so the counters never go backwards across restarts (a crash loses
at most one checkpoint interval of the modelled figure; lamps with meters lose nothing, their
next reading counts from the last one saved).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from edge.control import DimmingController, Event, StepResult
from edge.metrics import ClusterSnapshot
from edge.outbox import PRIORITY, Outbox
from edge.payloads import (
    ClusterEnergy,
    ClusterTraffic,
    EnergyRecord,
    EventRecord,
    TrafficRecord,
)
from edge.state import StateStore

__all__ = [
    "ENERGY_COLUMNS",
    "FULL",
    "LEDGER",
    "METERED",
    "METERED_MODEL",
    "MODELLED",
    "SCHEDULE",
    "EnergyTotals",
    "cluster_snapshots",
    "energy_record",
    "energy_row",
    "event_record",
    "meter_readings",
    "put_events",
    "restore_meters",
    "traffic_record",
]

log = logging.getLogger("streetlight.daemon")

_LOG_LEVEL = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}


#: Columns of EnergyTotals.wh (and of the saved lists): the ledger (the lamps' meters where
#: they report, modelled elsewhere), the full-power and schedule baselines, the modelled figure
#: for every lamp, what the meters counted, and the model's figure for the metered lamps.
LEDGER, FULL, SCHEDULE, MODELLED, METERED, METERED_MODEL = range(6)
ENERGY_COLUMNS = 6
_ZERO = [0.0] * ENERGY_COLUMNS


def energy_row(saved: list[float] | None) -> list[float]:
    """A saved row, from before meters (3 columns: the ledger was the modelled figure) too."""
    if not saved:
        return list(_ZERO)
    row = [float(x) for x in saved[:6]]
    if len(row) == 3:
        row += [row[LEDGER], 0.0, 0.0]
    return row + [0.0] * (6 - len(row))


class EnergyTotals:
    """Wh per cluster (columns LEDGER..METERED_MODEL), monotonic across restarts."""

    def __init__(self, clusters: list[str], state: StateStore) -> None:
        self.clusters = clusters
        saved: dict[str, list[float]] = state.get("energy", {}) or {}
        self.wh = np.array([energy_row(saved.get(c)) for c in clusters], dtype=np.float64)
        # Clusters removed from the config keep their history in the checkpoint.
        self._retired = {c: energy_row(v) for c, v in saved.items() if c not in clusters}

    def add(self, result: StepResult) -> None:
        self.wh[:, LEDGER] += result.ledger_wh
        self.wh[:, FULL] += result.baseline_full_wh
        self.wh[:, SCHEDULE] += result.baseline_schedule_wh
        self.wh[:, MODELLED] += result.cluster_wh
        self.wh[:, METERED] += result.metered_wh
        self.wh[:, METERED_MODEL] += result.metered_model_wh

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
        self.wh = np.array([energy_row(current.get(c)) for c in clusters], dtype=np.float64)
        self._retired = {c: v for c, v in current.items() if c not in clusters}


def meter_readings(ctrl: DimmingController) -> dict[str, list[float]]:
    """The metered lamps' last counter readings and their times, by lamp id (to persist)."""
    idx, wh, t = ctrl.energy.meters()
    ids = ctrl.site.lamps.ids.take(idx)
    return {lamp: [w, at] for lamp, w, at in zip(ids, wh.tolist(), t.tolist(), strict=True)}


def restore_meters(ctrl: DimmingController, saved: dict[str, list[float]]) -> int:
    """Give ``ctrl`` the readings saved before a restart (lamps still in the config); returns
    how many. A malformed entry is skipped: the lamp's next reading starts it afresh."""
    idx, wh, t = [], [], []
    for lamp, reading in saved.items():
        try:
            j = ctrl.lamp_index(lamp)
            w, at = float(reading[0]), float(reading[1])
        except (LookupError, TypeError, ValueError):
            continue
        if np.isfinite(w) and np.isfinite(at) and w >= 0:
            idx.append(j)
            wh.append(w)
            t.append(at)
    if idx:
        ctrl.energy.restore_meters(np.array(idx, dtype=np.intp), np.array(wh), np.array(t))
    return len(idx)


def event_record(event: Event) -> tuple[dict[str, Any], int]:
    """The outbox record for an event (gateway_id, boot_id and seq are added by the outbox)."""
    level = _LOG_LEVEL.get(event.severity, logging.INFO)
    log.log(level, "event %s %s: %s", event.kind, event.subject, event.message)
    record = EventRecord(
        t=event.t, kind=event.kind, subject=event.subject, severity=event.severity,
        message=event.message, data=event.data,
    )  # fmt: skip
    return record.model_dump(), PRIORITY.get(event.severity, 1)


def cluster_snapshots(ctrl: DimmingController, totals: EnergyTotals) -> tuple[ClusterSnapshot, ...]:
    """Per-cluster state for metrics and telemetry: a few arrays of cluster length, made
    lists first (a step of a big gateway builds thousands of these)."""
    sizes = ctrl.cluster_sizes.tolist()
    levels = ctrl.cluster_mean(ctrl.level).tolist()
    faulty = np.rint(ctrl.cluster_mean(ctrl.lamp_faulty.astype(np.float64)) * ctrl.cluster_sizes)
    idx, _, _ = ctrl.energy.meters()
    metered = np.bincount(ctrl.site.lamps.cluster[idx], minlength=len(sizes)).tolist()
    joules = (totals.wh * 3600.0).tolist()
    columns = zip(
        ctrl.site.clusters, sizes, levels, ctrl.cluster_flow.tolist(),
        ctrl.cluster_step.tolist(), ctrl.cluster_level.tolist(),
        ctrl.cluster_failsafe.tolist(), ctrl.energy.cluster_power.tolist(),
        faulty.tolist(), joules, metered, strict=True,
    )  # fmt: skip
    return tuple(
        ClusterSnapshot(
            id=cl.id,
            lamps=n,
            level=level,
            flow_per_h=flow,
            class_step=step,
            class_level=class_level,
            failsafe=failsafe,
            power_w=power,
            faulty_lamps=int(bad),
            energy_j=j[LEDGER],
            baseline_full_j=j[FULL],
            baseline_schedule_j=j[SCHEDULE],
            modelled_j=j[MODELLED],
            metered_j=j[METERED],
            metered_model_j=j[METERED_MODEL],
            metered_lamps=m,
        )
        for cl, n, level, flow, step, class_level, failsafe, power, bad, j, m in columns
    )


def energy_record(now: float, clusters: tuple[ClusterSnapshot, ...]) -> dict[str, Any]:
    """``<root>/telemetry/energy``: cumulative Wh since first boot, and power now."""
    per = {
        c.id: ClusterEnergy(
            energy_wh=round(c.energy_j / 3600.0, 3),
            modelled_wh=round(c.modelled_j / 3600.0, 3),
            metered_wh=round(c.metered_j / 3600.0, 3),
            meter_difference_wh=round((c.metered_j - c.metered_model_j) / 3600.0, 3),
            metered_lamps=c.metered_lamps,
            baseline_full_wh=round(c.baseline_full_j / 3600.0, 3),
            baseline_schedule_wh=round(c.baseline_schedule_j / 3600.0, 3),
            power_w=round(c.power_w, 2),
            level=round(c.level, 4),
        )
        for c in clusters
    }
    return EnergyRecord(t=now, clusters=per).model_dump()


def traffic_record(
    now: float, ctrl: DimmingController, clusters: tuple[ClusterSnapshot, ...]
) -> dict[str, Any]:
    """``<root>/telemetry/traffic``: flow, class and fail-safe per cluster."""
    per = {}
    for k, c in enumerate(clusters):
        ladder = ctrl.site.clusters[k].ladder
        per[c.id] = ClusterTraffic.model_validate({
            "flow_per_h": round(c.flow_per_h, 1),
            "class": ladder[min(c.class_step, len(ladder) - 1)],
            "failsafe": c.failsafe,
            "level": round(c.level, 4),
        })  # fmt: skip
    return TrafficRecord(t=now, clusters=per).encoded()


def put_events(outbox: Outbox, topic: str, events: tuple[Event, ...]) -> None:
    """A step's events, committed together (a class change on thousands of clusters is one
    sync to disk, not thousands)."""
    outbox.put_many([(topic, *event_record(event)) for event in events])
