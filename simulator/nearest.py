"""The lamp nearest each road user, for scoring: one sorted line of every lamp, searched a
cluster's stretch at a time."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from edge.control import SiteSpec

__all__ = ["nearest_lamps"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def nearest_lamps(spec: SiteSpec) -> Callable[[IntArray, FloatArray], IntArray]:
    """A look-up of the lamp nearest each (cluster, position) (-1 on a road without lamps)."""
    lamps = spec.lamps
    lengths = np.array([c.length_m for c in spec.clusters])
    offset = np.concatenate(([0.0], np.cumsum(lengths + 1.0)[:-1]))  # each road 1 m on
    order = np.lexsort((lamps.position_m, lamps.cluster))
    keys = offset[lamps.cluster[order]] + lamps.position_m[order]
    n_c = len(spec.clusters)
    first = lamps.cluster[order].searchsorted(np.arange(n_c), side="left")
    last = lamps.cluster[order].searchsorted(np.arange(n_c), side="right") - 1
    first_of = _Buckets(keys, lamps.cluster[order], first, last)

    def nearest(cluster: IntArray, pos: FloatArray) -> IntArray:
        at = offset[cluster] + pos
        right = np.minimum(np.maximum(first_of(cluster, at), first[cluster]), last[cluster])
        left = np.maximum(right - 1, first[cluster])
        pick = np.where(np.abs(keys[left] - at) <= np.abs(keys[right] - at), left, right)
        found: IntArray = np.where(last[cluster] >= first[cluster], order[pick], -1)
        return found

    return nearest


class _Buckets:
    """``keys.searchsorted(at)`` for queries on their own cluster's stretch of the sorted
    ``keys``, in a few array passes: each cluster's stretch is cut into 2 buckets a key, a
    query starts at the first key of its bucket and steps over the keys of its bucket below
    it. The bucket of a value is monotone in the value (keys and queries go through the same
    arithmetic), so the answer is exactly searchsorted's; lamps too unevenly spaced for a
    few steps are searched."""

    MAX_STEPS = 4

    def __init__(self, keys: FloatArray, cluster: IntArray, first: IntArray, last: IntArray):
        self.keys = keys
        self.padded = np.append(keys, np.inf)
        count = np.maximum(last - first + 1, 0)
        some = np.minimum(first, max(len(keys) - 1, 0))
        self.low = np.where(count > 0, keys[some], 0.0) if len(keys) else np.zeros(len(first))
        high = np.where(count > 0, keys[np.maximum(last, 0)], 0.0) if len(keys) else self.low
        n_buckets = np.maximum(2 * count, 1)
        self.top = n_buckets - 1
        width = high - self.low
        self.scale = np.where(width > 0, n_buckets / np.where(width > 0, width, 1.0), 0.0)
        self.base = np.concatenate(([0], np.cumsum(n_buckets)[:-1]))
        bucket = self._bucket(cluster, keys)
        per_bucket = np.bincount(bucket, minlength=int(n_buckets.sum()))
        self.steps = int(per_bucket.max()) if len(keys) else 0
        self.table = bucket.searchsorted(np.arange(len(per_bucket)), side="left")

    def _bucket(self, cluster: IntArray, at: FloatArray) -> IntArray:
        b = ((at - self.low[cluster]) * self.scale[cluster]).astype(np.intp)
        out: IntArray = np.minimum(np.maximum(b, 0), self.top[cluster]) + self.base[cluster]
        return out

    def __call__(self, cluster: IntArray, at: FloatArray) -> IntArray:
        if self.steps > self.MAX_STEPS or len(at) < 64:  # few queries: one call beats passes
            found: IntArray = self.keys.searchsorted(at)
            return found
        i = self.table[self._bucket(cluster, at)]
        for _ in range(self.steps):
            i += self.padded[i] < at
        return i
