"""Explain one lamp: replay the controller's last step for it, stage by stage, in scalars."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from edge.control._layers import Selection, op_scalar
from edge.control._result import Explanation, LayerEffect
from edge.lighting import (
    REQUIREMENT_MARGIN,
    REQUIREMENT_THRESHOLDS,
    class_ratio,
    required_class,
)

if TYPE_CHECKING:
    from edge.control._controller import DimmingController

__all__ = ["explain"]


def _selected(sel: Selection, i: int) -> bool:
    if sel is None:
        return True
    if isinstance(sel, slice):
        return bool(sel.start <= i < sel.stop)
    return bool(np.any(sel == i))


def explain(ctrl: DimmingController, lamp_id: str) -> Explanation:
    """The chain that produced ``lamp_id``'s level at the controller's last step."""
    i = ctrl.lamp_index(lamp_id)
    lamps = ctrl.site.lamps
    k = int(lamps.cluster[i])
    cl = ctrl.site.clusters[k]
    now = ctrl._now
    verdict = ctrl.verdict
    night = bool(ctrl.cluster_night[k])
    traffic = ctrl.traffic
    flows = traffic.flows
    step = int(ctrl.cluster_step[k])
    flow = float(ctrl.cluster_flow[k])
    ratio = flow / cl.capacity_per_h
    class_level = float(ctrl.cluster_level[k])
    failsafe = bool(ctrl.cluster_failsafe[k])
    reasons = [f"sensor {h.sensor} {h.describe()}" for h in traffic.unhealthy(now, k)]
    boost = night and bool(ctrl.boost_until[i] >= now)
    sensor_idx = ctrl._presence.sensor_of(i, now)
    value = class_level if night else ctrl.params.night.day_level
    if boost:
        value = max(value, float(ctrl.presence_level[i]))
    adaptive = value
    layers: list[LayerEffect] = []
    if night:
        for profile, sel in ctrl.layers.applied:
            if _selected(sel, i):
                after = op_scalar(profile.op, value, profile.level)
                kind = "profile"
                if profile.quiet_class is not None:
                    kind = f"quiet hours (class {profile.quiet_class}: {profile.reason})"
                layers.append(
                    LayerEffect(kind=kind, id=profile.id, op=profile.op,
                                level=profile.level, before=value, after=after)
                )  # fmt: skip
                value = after
        if failsafe:
            value = 1.0
    for o, sel in ctrl.layers.overrides.values():
        if _selected(sel, i):
            after = op_scalar(o.op, value, o.level)
            layers.append(LayerEffect(kind="override", id=o.id, op=o.op, level=o.level,
                                      before=value, after=after))  # fmt: skip
            value = after
    floor = float(ctrl.layers.floor_eff[i]) if night else 0.0
    ceiling = float(lamps.ceiling[i])
    clamped = max(min(value, ceiling), floor)
    need_cls = required_class(cl.rated_class, ratio)
    need = class_ratio(need_cls, cl.rated_class)
    presence = float(ctrl.presence_level[i])
    light = float(ctrl.level[i]) / float(lamps.clo[i])
    meets = _meets(night, failsafe, boost, light, presence, need, ceiling, layers)
    entry = bool(ctrl._presence.entry[i]) and ctrl.params.presence.enabled
    thresholds = ctrl.params.class_thresholds
    return Explanation(
        lamp=lamp_id,
        cluster=cl.id,
        t=now,
        night=night,
        night_source=verdict.source if verdict else "not stepped yet",
        lights_on_at=verdict.lights_on_at if verdict else None,
        lights_off_at=verdict.lights_off_at if verdict else None,
        flow_per_h=flow,
        window_s=flows.window_s,
        capacity_per_h=cl.capacity_per_h,
        flow_ratio=ratio,
        warm=flows.warm(now),
        rated_class=cl.rated_class,
        cls=cl.ladder[step],
        class_level=class_level,
        threshold=thresholds[step - 1] if 0 < step <= len(thresholds) else None,
        failsafe=failsafe,
        failsafe_reason="; ".join(reasons),
        required_class=need_cls,
        required_level=need,
        requirement_why=_requirement_why(cl.rated_class, ratio),
        presence_level=presence,
        meets=meets,
        boost=boost,
        entry=entry,
        # inf: held by a road user still near (its hold has not begun)
        boost_until=math.inf
        if ctrl._presence.held_by_track(i, now)
        else float(ctrl.boost_until[i]),
        boost_sensor=ctrl.site.sensors[sensor_idx].id if sensor_idx >= 0 else None,
        adaptive_target=adaptive,
        layers=tuple(layers),
        floor=floor,
        ceiling=ceiling,
        clamped=clamped,
        clo=float(lamps.clo[i]),
        target=float(ctrl.target[i]),
        level=float(ctrl.level[i]),
        ramp_limited=bool(ctrl.level[i] != ctrl.target[i]),
    )


def _requirement_why(rated: str, ratio: float) -> str:
    """Why the requirement is the class it is (CEN/TR 13201-1's traffic volume)."""
    if rated[0] != "M":
        return "people on foot and bikes: the rated class while anyone is there"
    high, low = REQUIREMENT_THRESHOLDS
    if ratio >= high:
        band = f"at least {high:.0%}: the rated class"
    elif ratio >= low:
        band = f"{low:.0%} to {high:.0%}: one class below the rated {rated}"
    else:
        band = f"under {low:.0%}: two classes below the rated {rated}"
    return f"measured flow {ratio:.1%} of capacity, {band}"


def _meets(
    night: bool, failsafe: bool, boost: bool, light: float, presence: float, need: float,
    ceiling: float, layers: list[LayerEffect],
) -> str:  # fmt: skip
    """How the lamp meets the requirement now, and where a road user would be."""
    if not night:
        return "day: no lighting is owed"
    if failsafe:
        return "fail-safe at the rated class: at or above any requirement"
    near = min(presence, ceiling)
    for layer in layers:
        near = op_scalar(layer.op, near, layer.level)
    short = near < need - REQUIREMENT_MARGIN
    verdict = f"{near:.0%}, BELOW the required {need:.0%}" if short else f"{near:.0%}"
    if boost:
        return f"a road user is near: lit at {light:.0%} (presence level {verdict})"
    return (
        f"nobody near: at {light:.0%}; a road user here is lit at {verdict} within a tick "
        f"of its count"
    )
