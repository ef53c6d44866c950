"""Each lamp's command target: its road's class level (or the day level), raised where a
road user is near, then the layers (profiles, fail-safe, overrides), the clamp to floor and
ceiling, and CLO."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.control._boost import PresenceBoost
from edge.control._clusters import ClusterTraffic
from edge.control._index import SiteIndex
from edge.control._layers import Layers
from edge.control._spec import PolicyParams, SiteSpec

__all__ = ["Targets"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


class Targets:
    """The per-lamp levels a step works out before the ramp. The class levels (raw and
    clamped to command space) and the night floor are rebuilt only when night comes or goes
    on a cluster, a cluster's level moves, or a layer's floor does; the target every step."""

    def __init__(
        self,
        *,
        site: SiteSpec,
        params: PolicyParams,
        index: SiteIndex,
        traffic: ClusterTraffic,
        presence: PresenceBoost,
        layers: Layers,
    ) -> None:
        self._site, self._params, self._index = site, params, index
        self._traffic, self._presence, self._layers = traffic, presence, layers
        n = len(site.lamps)
        self._clo = site.lamps.clo
        self._has_clo = bool(np.any(site.lamps.clo != 1.0))
        self._is_m = np.array([c.family == "M" for c in site.clusters], dtype=bool)
        self.base = np.ones(n)  # class level (light terms) before boost and layers
        self.base_cmd = np.ones(n)  # the same clamped to [floor, ceiling] and times CLO
        self.presence_level = np.ones(n)  # its road's presence level (light terms)
        self._boost_light = np.ones(n)  # the same where it is night (0 by day: no boost)
        self._boost_cmd = np.ones(n)  # that clamped, times CLO
        self._night = np.zeros(n)  # 1.0 where its cluster has night
        self._cluster_night = np.zeros(len(site.clusters), dtype=bool)
        self.floor = np.zeros(n)  # the night floor where it is night, else 0 (light terms)
        self.floor_cmd = np.zeros(n)  # the same times CLO
        # 1.0 where a road user lights the lamp now, else 0.0 (a float, not a mask: numpy's
        # where= paths run several times slower than a multiply and a maximum)
        self._lit = np.zeros(n)
        self.stale = True  # the class levels are rebuilt at the next step
        self.target = np.ones(n)  # command target after layers, clamp and CLO

    def rebuild(self, night: BoolArray, clusters: IntArray | None) -> None:
        """Class level per lamp (the day level where its cluster has day), raw and clamped to
        command space, and the night floor; for all lamps, or only for ``clusters``.
        ``night``: each cluster's verdict."""
        lamps, n = self._site.lamps, len(self._site.lamps)
        presence = self._presence_levels()
        level = np.where(night, self._traffic.level, self._params.night.day_level)
        lit = np.where(night, presence, 0.0)
        np.copyto(self._cluster_night, night)
        if clusters is None:
            sel = [slice(0, n)]
            np.take(level, lamps.cluster, out=self.base)
            np.take(presence, lamps.cluster, out=self.presence_level)
            np.take(lit, lamps.cluster, out=self._boost_light)
            self._night[:] = night[lamps.cluster]
        else:
            sel = [self._index.cluster_slice(k) for k in clusters.tolist()]
            for k, sl in zip(clusters.tolist(), sel, strict=True):
                self.base[sl], self.presence_level[sl] = level[k], presence[k]
                self._boost_light[sl], self._night[sl] = lit[k], night[k]
        floor_eff = self._layers.floor_eff
        for sl in sel:
            np.multiply(floor_eff[sl], self._night[sl], out=self.floor[sl])
            np.multiply(self.floor[sl], self._clo[sl], out=self.floor_cmd[sl])
            for light, cmd in ((self.base, self.base_cmd), (self._boost_light, self._boost_cmd)):
                np.minimum(light[sl], lamps.ceiling[sl], out=cmd[sl])
                np.maximum(cmd[sl], self.floor[sl], out=cmd[sl])
                cmd[sl] *= self._clo[sl]
        self.stale = False

    def _presence_levels(self) -> FloatArray:
        """Per cluster, the level a road user is lit at: on M roads the class its traffic
        warrants plus ``m_steps_up`` classes (at most the rated one), on P and C roads
        ``pc_level`` of the rated class; 0 with presence off."""
        p = self._params.presence
        if not p.enabled:
            return np.zeros(len(self._site.clusters))
        traffic = self._traffic
        up = traffic.level_at(np.maximum(traffic.step - p.m_steps_up, 0))
        levels: FloatArray = np.where(self._is_m, up, p.pc_level)
        return levels

    def update(self, now: float, boosted: bool) -> FloatArray:
        """The target at ``now``, with road users near lamps where ``boosted`` (on the
        clusters with night: by day the boost's level is 0)."""
        if boosted:
            self._presence.lit(now, self._lit)
        if self._layers:
            self._layered(boosted)
        elif boosted:
            # The clamped class level, raised where a road user is near (base_cmd >= 0, so
            # the maximum leaves the unlit lamps at it).
            lit = np.multiply(self._lit, self._boost_cmd, out=self._lit)
            np.maximum(self.base_cmd, lit, out=self.target)
        else:
            np.copyto(self.target, self.base_cmd)
        return self.target

    def _layered(self, boosted: bool) -> None:
        """The full chain, when profiles or overrides are active: layers, fail-safe, clamp.
        Profiles and fail-safe apply at night only (the profiles are active by night only)."""
        tgt, layers = self.target, self._layers
        np.copyto(tgt, self.base)
        if boosted:  # tgt >= 0: the maximum leaves the unlit lamps as they are
            lit = np.multiply(self._lit, self._boost_light, out=self._lit)
            np.maximum(tgt, lit, out=tgt)
        layers.apply_profiles(tgt)
        failsafe = self._traffic.failsafe & self._cluster_night
        for k in failsafe.nonzero()[0].tolist():
            tgt[self._index.cluster_slice(k)] = 1.0
        layers.apply_overrides(tgt)
        np.minimum(tgt, self._site.lamps.ceiling, out=tgt)
        np.maximum(tgt, self.floor, out=tgt)
        if self._has_clo:
            np.multiply(tgt, self._clo, out=tgt)
