"""What the read commands answer (``status``, ``clusters``, ``lamps``): the typed results of
``edge.replies``, built from the running daemon."""

from __future__ import annotations

import math

from edge._version import __version__
from edge.config import SiteConfig
from edge.daemon._seams import CommandHost
from edge.replies import (
    MAX_NAMED_LAMPS,
    ClusterRow,
    LampRow,
    LampsResult,
    SensorProblem,
    SerialLinkRow,
    StatusResult,
)

__all__ = ["cluster_rows", "lamps_result", "status_result"]


def status_result(d: CommandHost) -> StatusResult:
    """The gateway at a glance, with why any cluster is in fail-safe."""
    now = d.clock.time()
    snap = d.metrics.snapshot
    links = [
        SerialLinkRow(
            port=ln.port, up=ln.up, frames_ok=ln.frames_ok, rejected=sum(ln.rejected.values())
        )
        for ln in snap.links
    ]
    return StatusResult(
        gateway_id=d.site.gateway_id, online=True, version=__version__, boot_id=d.boot_id,
        uptime_s=round(now - d.stats.started_at, 1), night=snap.night,
        broker=f"{d.site.mqtt.host}:{d.site.mqtt.port}", serial=links,
        clusters=cluster_rows(d), outbox_depth=d.outbox.depth, ticks=d.stats.ticks,
        presence_steps=d.stats.presence_steps, tick_overruns=d.stats.overruns,
        overrides=len(d.controller.overrides), stale_s=d.site.controller.stale_s,
        lease_s=d.site.controller.lease_s,
    )  # fmt: skip


def cluster_rows(d: CommandHost) -> list[ClusterRow]:
    """Each cluster's flow, class, level and power; for one in fail-safe, the sensors that
    put it there; and the lamps whose node says its lease lapsed."""
    ctrl = d.controller
    now = d.clock.time()
    sources = _sensor_sources(d.site)
    lapsed = _lease_lapsed(d)
    rows = []
    for c in d.metrics.snapshot.clusters:
        k = ctrl.cluster_index(c.id)
        ladder = ctrl.site.clusters[k].ladder
        sensors = [
            SensorProblem(
                id=h.sensor,
                problem=h.problem,
                last_seen=round(h.last_seen, 1),
                silent_s=round(h.silent_s, 1),
                reason=h.reason,
                source=sources.get(h.sensor, "mqtt"),
            )
            for h in (ctrl.unhealthy_sensors(k, now) if c.failsafe else [])
        ]
        gone = lapsed.get(c.id, [])
        rows.append(
            ClusterRow(
                id=c.id,
                lamps=c.lamps,
                flow_per_h=round(c.flow_per_h, 1),
                lighting_class=ladder[min(c.class_step, len(ladder) - 1)],
                rated_class=ladder[0],
                level=round(c.level, 4),
                power_w=round(c.power_w, 1),
                failsafe=c.failsafe,
                faulty_lamps=c.faulty_lamps,
                failsafe_sensors=sensors,
                lease_lapsed=len(gone),
                lease_lapsed_ids=gone[:MAX_NAMED_LAMPS],
            )
        )
    return rows


def lamps_result(d: CommandHost, cluster: str | None) -> LampsResult:
    """Every lamp (of ``cluster``): the policy's level and target, the lease's age, and what
    the node reports: its power (the model's where it reports none), level and faults."""
    ctrl = d.controller
    now = d.clock.time()
    lamps = ctrl.site.lamps
    if cluster is not None:
        part = ctrl.cluster_slice(ctrl.cluster_index(cluster))
        rows = range(part.start, part.stop)
    else:
        rows = range(ctrl.n_lamps)
    power = ctrl.power
    out = []
    for j in rows:
        lamp = lamps.ids[j]
        state = d.ingest.lamp_state.get(lamp)
        sent_at = float(ctrl.last_sent_at[j])
        modelled = round(float(power[j]), 2)
        reported = state.power_w if state else None
        out.append(
            LampRow(
                id=lamp,
                cluster=ctrl.site.clusters[int(lamps.cluster[j])].id,
                level=round(float(ctrl.level[j]), 4),
                target=round(float(ctrl.target[j]), 4),
                lease_age_s=round(now - sent_at, 1) if math.isfinite(sent_at) else None,
                power_w=modelled if reported is None else reported,
                modelled_power_w=modelled,
                reported_power_w=reported,
                reported_level=state.level if state else None,
                faults=list(state.faults) if state else [],
            )
        )
    return LampsResult(lamps=out)


def _lease_lapsed(d: CommandHost) -> dict[str, list[str]]:
    """Per cluster, the lamps whose node last said it holds no valid lease."""
    ctrl = d.controller
    index = ctrl.lamp_ids
    out: dict[str, list[str]] = {}
    for lamp, state in d.ingest.lamp_state.items():
        if "failsafe" in state.faults and lamp in index:
            k = int(ctrl.site.lamps.cluster[index[lamp]])
            out.setdefault(ctrl.site.clusters[k].id, []).append(lamp)
    return {c: sorted(ids) for c, ids in out.items()}


def _sensor_sources(site: SiteConfig) -> dict[str, str]:
    """Where each sensor reports from: ``mqtt`` or ``serial <port> node <n>``."""
    return {
        sensor.id: f"serial {sensor.port} node {sensor.node}"
        if sensor.source == "serial"
        else "mqtt"
        for cluster in site.clusters
        for sensor in cluster.sensors
    }
