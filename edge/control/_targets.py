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


class Targets:
    """The per-lamp levels a step works out before the ramp. The class levels (raw and
    clamped to command space) are rebuilt only when night comes or goes, a cluster's level
    moves, or a layer's floor does; the target every step."""

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
        self._boost_cmd = np.ones(n)  # the same clamped, times CLO
        # 1.0 where a road user lights the lamp now, else 0.0 (a float, not a mask: numpy's
        # where= paths run several times slower than a multiply and a maximum)
        self._lit = np.zeros(n)
        self.stale = True  # the class levels are rebuilt at the next step
        self.target = np.ones(n)  # command target after layers, clamp and CLO

    def rebuild(self, night: bool, clusters: IntArray | None) -> None:
        """Class level per lamp (or the day level), raw and clamped to command space;
        for all lamps, or only for ``clusters``."""
        lamps, n = self._site.lamps, len(self._site.lamps)
        index = self._index
        sel = [slice(0, n)] if clusters is None else [index.cluster_slice(k) for k in clusters]
        lo = self._layers.floor_eff if night else np.zeros(n)
        presence = self._presence_levels()
        cluster_level = self._traffic.level
        if clusters is None:
            if night:
                np.take(cluster_level, lamps.cluster, out=self.base)
            else:
                self.base.fill(self._params.night.day_level)
            np.take(presence, lamps.cluster, out=self.presence_level)
        else:
            for k, sl in zip(clusters.tolist(), sel, strict=True):
                self.base[sl] = cluster_level[k]
                self.presence_level[sl] = presence[k]
        for sl in sel:
            for light, cmd in ((self.base, self.base_cmd), (self.presence_level, self._boost_cmd)):
                np.minimum(light[sl], lamps.ceiling[sl], out=cmd[sl])
                np.maximum(cmd[sl], lo[sl], out=cmd[sl])
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

    def update(self, now: float, night: bool, boosted: bool) -> FloatArray:
        """The target at ``now``, with road users near lamps where ``boosted``."""
        if boosted:
            self._presence.lit(now, self._lit)
        if self._layers:
            self._layered(night, boosted)
        elif boosted:
            # The clamped class level, raised where a road user is near (base_cmd >= 0, so
            # the maximum leaves the unlit lamps at it).
            lit = np.multiply(self._lit, self._boost_cmd, out=self._lit)
            np.maximum(self.base_cmd, lit, out=self.target)
        else:
            np.copyto(self.target, self.base_cmd)
        return self.target

    def _layered(self, night: bool, boosted: bool) -> None:
        """The full chain, when profiles or overrides are active: layers, fail-safe, clamp."""
        tgt, layers = self.target, self._layers
        np.copyto(tgt, self.base)
        if night:
            if boosted:  # tgt >= 0: the maximum leaves the unlit lamps as they are
                lit = np.multiply(self._lit, self.presence_level, out=self._lit)
                np.maximum(tgt, lit, out=tgt)
            layers.apply_profiles(tgt)
            for k in self._traffic.failsafe.nonzero()[0].tolist():
                tgt[self._index.cluster_slice(k)] = 1.0
        layers.apply_overrides(tgt)
        np.minimum(tgt, self._site.lamps.ceiling, out=tgt)
        np.maximum(tgt, layers.floor_eff if night else 0.0, out=tgt)
        if self._has_clo:
            np.multiply(tgt, self._clo, out=tgt)
