"""Per cluster: the health of its sensors, its traffic flow, class and fail-safe.

DESIGN.md step 2 (flow over a rolling window -> a class step below the rated class, with
hysteresis) and the fail-safe (a cluster with a stale or faulty sensor at its rated class).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt

from edge.control import _events as ev
from edge.control._result import Event, SensorHealth
from edge.control._spec import PolicyParams, SiteSpec
from edge.control._traffic import FlowWindow, class_steps

__all__ = ["ClusterTraffic"]

IntArray = npt.NDArray[np.intp]


class ClusterTraffic:
    """Sensor health (last seen, faults) and each cluster's flow, class step, level and
    fail-safe. ``update`` re-evaluates only when counts, faults, the flow window or the
    passage of time (a sensor going silent) could have changed something."""

    def __init__(self, *, site: SiteSpec, params: PolicyParams, start: float) -> None:
        self.site, self.params = site, params
        c, s = len(site.clusters), len(site.sensors)
        self.flows = FlowWindow(
            sensors=s, window_s=params.flow_window_s, bins=params.flow_bins, start=start
        )
        self._capacity = np.array([cl.capacity_per_h for cl in site.clusters], dtype=np.float64)
        width = max(len(cl.ladder) for cl in site.clusters)
        self._ladder_len = np.array([len(cl.ladder) for cl in site.clusters], dtype=np.intp)
        self._ladder_levels = np.array(
            [
                cl.ladder_levels + (cl.ladder_levels[-1],) * (width - len(cl.ladder))
                for cl in site.clusters
            ]
        )
        self._cluster_range = np.arange(c)
        self._thresholds = np.asarray(params.class_thresholds, dtype=np.float64)
        self._thresholds_down = self._thresholds * (1.0 - params.class_hysteresis)
        self.sensor_cluster = np.array([se.cluster for se in site.sensors], dtype=np.intp)
        self._has_sensors = np.bincount(self.sensor_cluster, minlength=c) > 0
        self.sensor_index = {se.id: i for i, se in enumerate(site.sensors)}
        # Per sensor.
        self.last_seen = np.full(s, float(start))
        self.faulty = np.zeros(s, dtype=bool)
        self.fault_reason: list[str] = [""] * s
        # Per cluster.
        self.flow = np.zeros(c)
        self.step = np.zeros(c, dtype=np.intp)
        self.failsafe = np.zeros(c, dtype=bool)
        self.level = np.ones(c)
        self.class_reason: list[dict[str, float | str]] = [{} for _ in range(c)]
        self._dirty = True
        self._was_warm = False
        self._oldest_healthy = -math.inf
        self._none = np.zeros(0, dtype=np.intp)
        # Health is re-derived only after a fault report, while a sensor is unhealthy, or
        # once the oldest healthy report may have gone stale; otherwise every sensor is
        # still healthy (reports only make last_seen later).
        self._health_dirty = True
        self._any_unhealthy = False
        self._unhealthy = np.zeros(s, dtype=bool)

    def counted(self, now: float, sensors: IntArray, totals: npt.NDArray[np.float64]) -> None:
        """Sensors that reported at ``now`` (their road users, both directions)."""
        self.last_seen[sensors] = now
        self.flows.add_many(sensors, totals)
        self._dirty = True

    def fault(self, now: float, sensor: int, faulty: bool, reason: str) -> None:
        self.faulty[sensor] = faulty
        self.fault_reason[sensor] = reason if faulty else ""
        self.last_seen[sensor] = now
        self._dirty = self._health_dirty = True

    def advance(self, now: float) -> None:
        """Move the flow window to ``now``."""
        if self.flows.advance(now):
            self._dirty = True

    def shift(self, delta: float, now: float) -> None:
        """The clock moved by ``delta`` (to ``now``): sensors keep the silence they had, the
        flow window starts afresh (the rated class until it is full again)."""
        self.last_seen += delta
        self._oldest_healthy += delta
        self.flows.restart(now)
        self._dirty = self._health_dirty = True

    def level_at(self, steps: IntArray) -> npt.NDArray[np.float64]:
        """Per cluster, the level of the class ``steps`` below its rated one (at most its
        ladder's last)."""
        capped = np.minimum(steps, self._ladder_len - 1)
        levels: npt.NDArray[np.float64] = self._ladder_levels[self._cluster_range, capped]
        return levels

    def unhealthy(self, now: float, cluster: int) -> list[SensorHealth]:
        """The sensors of ``cluster`` that are silent past stale_s or flagged faulty."""
        out = []
        for si in (self.sensor_cluster == cluster).nonzero()[0].tolist():
            seen = float(self.last_seen[si])
            silent = now - seen
            if self.faulty[si]:
                problem: Literal["silent", "faulty"] = "faulty"
            elif silent > self.params.stale_s:
                problem = "silent"
            else:
                continue
            out.append(
                SensorHealth(sensor=self.site.sensors[si].id, problem=problem, last_seen=seen,
                             silent_s=max(silent, 0.0), reason=self.fault_reason[si])
            )  # fmt: skip
        return out

    def update(self, now: float, events: list[Event]) -> IntArray:
        """Flows, classes and fail-safe per cluster at ``now``; the clusters whose level
        moved."""
        warm = self.flows.warm(now)
        stale_s = self.params.stale_s
        aged = now - self._oldest_healthy > stale_s
        if not (self._dirty or warm != self._was_warm or aged):
            return self._none  # nothing an evaluation depends on has changed
        self._dirty = False
        health = self._health_dirty or self._any_unhealthy or aged
        if health:
            self._health_dirty = False
            unhealthy = self.faulty | (now - self.last_seen > stale_s)
            healthy_seen = self.last_seen.compress(~unhealthy)
            self._oldest_healthy = float(healthy_seen.min()) if len(healthy_seen) else math.inf
            self._any_unhealthy = bool(unhealthy.any())
            self._unhealthy = unhealthy
        flows = self.flows.flows_per_h()
        if self._any_unhealthy:
            flows = np.where(self._unhealthy, 0.0, flows)
        cluster_flow = np.zeros(len(self.step))
        np.maximum.at(cluster_flow, self.sensor_cluster, flows)
        self.flow = cluster_flow
        ratio = cluster_flow / self._capacity
        self._was_warm = warm
        return self._evaluate(now, warm, ratio, events)

    def _evaluate(
        self, now: float, warm: bool, ratio: npt.NDArray[np.float64], events: list[Event]
    ) -> IntArray:
        """Class steps, levels and fail-safe of every cluster from the flow ratios."""
        unhealthy, n_c = self._unhealthy, len(self.step)
        failsafe = np.bincount(self.sensor_cluster, weights=unhealthy, minlength=n_c) > 0
        # Brighter at once (safety); dimmer only once the flow is clearly below a threshold.
        up = class_steps(ratio, self._thresholds, self._ladder_len)
        down = class_steps(ratio, self._thresholds_down, self._ladder_len)
        steps = np.minimum(up, np.maximum(self.step, down))
        adaptive = self._has_sensors & ~failsafe & warm
        steps = np.where(adaptive, steps, 0)
        level = self._ladder_levels[self._cluster_range, steps]
        for k in (failsafe != self.failsafe).nonzero()[0].tolist():
            cid = self.site.clusters[k].id
            if failsafe[k]:
                problems = {h.sensor: h.describe() for h in self.unhealthy(now, k)}
                events.append(ev.failsafe_enter(now, cid, problems))
            else:
                events.append(ev.failsafe_exit(now, cid))
        for k in (steps != self.step).nonzero()[0].tolist():
            cl, old, new = self.site.clusters[k], int(self.step[k]), int(steps[k])
            reason: dict[str, float | str] = {
                "from": cl.ladder[old], "to": cl.ladder[new], "flow_per_h": float(self.flow[k]),
                "ratio": float(ratio[k]), "window_s": self.params.flow_window_s, "t": now,
            }  # fmt: skip
            if 0 < new <= len(self._thresholds):
                reason["threshold"] = float(self._thresholds[new - 1])
            self.class_reason[k] = reason
            events.append(ev.class_change(now, cl.id, reason))
        moved: IntArray = (level != self.level).nonzero()[0]
        self.step, self.failsafe, self.level = steps, failsafe, level
        return moved
