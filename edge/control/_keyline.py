"""A sorted line of keys searched in a few array passes (lamps and sensors on their roads)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["KeyLine"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


class KeyLine:
    """Sorted keys with a bucket table: ``left(q)`` is ``keys.searchsorted(q, "left")`` in a
    constant number of array passes instead of a binary search per query.

    The line is cut into 2 buckets per key; the table holds, per bucket, the first key in it
    or after it, and a query then steps over the keys of its own bucket below itself (at
    most the most keys any bucket holds). A line too uneven for that (over 4 keys in a
    bucket) falls back to ``searchsorted``.
    """

    MAX_PER_BUCKET = 4

    def __init__(self, keys: FloatArray) -> None:
        self.keys = keys
        n = len(keys)
        self._padded = np.append(keys, np.inf)  # a step past the last key stops at n
        self._table: IntArray | None = None
        if n == 0:
            return
        self._base = float(keys[0])
        extent = float(keys[-1]) - self._base
        buckets = 2 * n
        self._scale = buckets / extent if extent > 0 else 0.0
        if not np.isfinite(self._scale):  # keys a denormal apart: no table can split them
            return
        self._top = buckets - 1
        bucket_of_key = np.minimum(((keys - self._base) * self._scale).astype(np.intp), self._top)
        per_bucket = int(np.bincount(bucket_of_key).max())
        if per_bucket > self.MAX_PER_BUCKET:
            return
        self._steps = per_bucket
        # first key of each bucket or a later one; every key before it is below any query
        # that falls in the bucket (the bucket of a value is monotone in the value)
        self._table = bucket_of_key.searchsorted(np.arange(buckets), side="left")

    def left(self, queries: FloatArray) -> IntArray:
        """Index of the first key >= each query (``n`` past the last)."""
        table = self._table
        if table is None or len(queries) < 64:  # few queries: one call beats the passes
            found: IntArray = self.keys.searchsorted(queries, side="left")
            return found
        b = np.subtract(queries, self._base)
        b *= self._scale
        np.minimum(b, self._top, out=b)
        np.maximum(b, 0.0, out=b)  # far below the line: a cast could overflow
        idx = table.take(b.astype(np.intp), mode="clip")
        padded = self._padded
        for _ in range(self._steps):
            idx += padded.take(idx) < queries
        return idx

    def right(self, queries: FloatArray) -> IntArray:
        """Index of the first key > each query."""
        return self.left(np.nextafter(queries, np.inf))
