"""Ids to indices: lamps, clusters, and layer targets ("all", a cluster, or a lamp)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

import numpy as np

from edge.control._ids import IdIndex
from edge.control._layers import Selection
from edge.control._spec import SiteSpec
from edge.errors import UnknownIdError

__all__ = ["SiteIndex"]


class SiteIndex:
    """Look-ups with helpful errors: an unknown id names the closest known ones."""

    def __init__(self, site: SiteSpec) -> None:
        self._site = site
        c = len(site.clusters)
        self.starts = np.searchsorted(site.lamps.cluster, np.arange(c), side="left")
        self.ends = np.searchsorted(site.lamps.cluster, np.arange(c), side="right")
        self._clusters = {cl.id: i for i, cl in enumerate(site.clusters)}
        self.lamps: Mapping[str, int] = IdIndex(site.lamps.ids)  # lamp id -> index

    def lamp(self, lamp_id: str) -> int:
        """Index of a lamp id; UnknownIdError with the closest ids when absent."""
        j = self._site.lamps.ids.find(lamp_id)
        if j < 0:
            close = difflib.get_close_matches(lamp_id, self._site.lamps.ids, n=3, cutoff=0.6)
            raise UnknownIdError("lamp", lamp_id, close)
        return j

    def cluster(self, cluster_id: str) -> int:
        try:
            return self._clusters[cluster_id]
        except KeyError:
            close = difflib.get_close_matches(cluster_id, list(self._clusters), n=3)
            raise UnknownIdError("cluster", cluster_id, close) from None

    def cluster_slice(self, k: int) -> slice:
        """The lamps of cluster ``k`` (contiguous)."""
        return slice(int(self.starts[k]), int(self.ends[k]))

    def select(self, target: str) -> Selection:
        """The lamps a layer on ``target`` touches: None for "all", a slice, or an index."""
        if target == "all":
            return None
        if target in self._clusters:
            return self.cluster_slice(self._clusters[target])
        try:
            return np.array([self.lamp(target)], dtype=np.intp)
        except UnknownIdError as exc:
            names = [*self._clusters, "all", *self._site.lamps.ids]
            close = difflib.get_close_matches(target, names, n=3, cutoff=0.6)
            raise UnknownIdError("lamp or cluster", target, close) from exc
