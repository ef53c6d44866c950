"""Which lamps a counted road user lights up: ahead by speed x lead time, a little behind."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.control._inputs import DEFAULT_SPEED_MPS, KINDS
from edge.control._spec import PresenceParams, SiteSpec

__all__ = ["PresenceGeometry", "travel_speed"]


def travel_speed(counts: tuple[int, ...], mean_speed: float | None, limit_mps: float) -> float:
    """The speed that sets the lead distance: the measured mean, else the fastest kind seen."""
    if mean_speed is not None and mean_speed > 0:
        return float(mean_speed)
    speeds = [
        limit_mps if kind == "car" else DEFAULT_SPEED_MPS[kind]
        for kind, n in zip(KINDS, counts, strict=False)
        if n > 0
    ]
    return max(speeds) if speeds else limit_mps


class PresenceGeometry:
    """Per sensor, its cluster's lamps sorted by position (built once, used per count)."""

    def __init__(self, site: SiteSpec, params: PresenceParams) -> None:
        self._p = params
        lamps = site.lamps
        self._order: list[npt.NDArray[np.intp]] = []
        self._pos: list[npt.NDArray[np.float64]] = []
        self._sensor_pos: list[float] = []
        by_cluster: dict[int, tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]] = {}
        for sensor in site.sensors:
            if sensor.cluster not in by_cluster:
                members = np.flatnonzero(lamps.cluster == sensor.cluster)
                order = members[np.argsort(lamps.position_m[members], kind="stable")]
                by_cluster[sensor.cluster] = (order, lamps.position_m[order])
            order, pos = by_cluster[sensor.cluster]
            self._order.append(order)
            self._pos.append(pos)
            self._sensor_pos.append(sensor.position_m)

    def lamps_for(self, sensor: int, direction: int, speed_mps: float) -> npt.NDArray[np.intp]:
        """Indices of the lamps to boost for a road user passing ``sensor`` in ``direction``.

        Ahead: every lamp within speed x lead_s, and at least ``min_lamps_ahead`` lamps.
        Behind: lamps within ``behind_m``. A lamp level with the sensor counts as ahead.
        """
        pos, order, at = self._pos[sensor], self._order[sensor], self._sensor_pos[sensor]
        reach = max(speed_mps, 0.0) * self._p.lead_s
        n = len(pos)
        if direction > 0:
            first_ahead = int(np.searchsorted(pos, at, side="left"))
            lo = int(np.searchsorted(pos, at - self._p.behind_m, side="left"))
            hi = int(np.searchsorted(pos, at + reach, side="right"))
            hi = min(n, max(hi, first_ahead + self._p.min_lamps_ahead))
        else:
            end_ahead = int(np.searchsorted(pos, at, side="right"))
            hi = int(np.searchsorted(pos, at + self._p.behind_m, side="right"))
            lo = int(np.searchsorted(pos, at - reach, side="left"))
            lo = max(0, min(lo, end_ahead - self._p.min_lamps_ahead))
        return order[lo:hi]
