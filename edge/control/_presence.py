"""Which lamps a counted road user lights up: ahead by speed x lead time, a little behind.

Vectorised over every tracked road user at once: lamps are sorted once by (cluster, position)
into one key line, each cluster offset past the previous one, so one search finds every
span's ends, and the spans expand into lamp indices without a Python loop over lamps.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.control._inputs import DEFAULT_SPEED_MPS, KINDS
from edge.control._spec import PresenceParams, SiteSpec

__all__ = ["KeyLine", "PresenceGeometry", "Tracks", "travel_speeds"]

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
        np.minimum(b, self._top, out=b)  # below 0 (or NaN): clipped to bucket 0 by the take
        idx = table.take(b.astype(np.intp), mode="clip")
        padded = self._padded
        for _ in range(self._steps):
            idx += padded.take(idx) < queries
        return idx

    def right(self, queries: FloatArray) -> IntArray:
        """Index of the first key > each query."""
        return self.left(np.nextafter(queries, np.inf))


_KIND_SPEED = np.array([0.0 if k == "car" else DEFAULT_SPEED_MPS[k] for k in KINDS])


def travel_speeds(
    counts: npt.NDArray[np.int64], mean_speed: FloatArray, sensors: IntArray, limits: FloatArray
) -> FloatArray:
    """Speed that sets each lead distance: the measured mean (when > 0 and finite), else the
    fastest kind counted (cars at the speed limit of the sensor's road, ``limits[sensors]``,
    bikes 5.5 m/s, pedestrians 1.4 m/s). Always > 0 and finite: an infinite mean would put
    the road user off its road at once (and a NaN anywhere)."""
    if mean_speed.min(initial=1.0) > 0 and mean_speed.max(initial=1.0) < np.inf:
        return mean_speed  # a radar gave every speed
    limit = limits[sensors]
    per_kind = np.where(_KIND_SPEED[None, :] == 0.0, limit[:, None], _KIND_SPEED[None, :])
    seen = np.where(counts > 0, per_kind, 0.0).max(axis=1)
    seen = np.where(seen > 0, seen, limit)
    measured = (mean_speed > 0) & (mean_speed < np.inf)
    speeds: FloatArray = np.where(measured, mean_speed, seen)
    return speeds


class PresenceGeometry:
    """Lamps in (cluster, position) order on one key line, and each sensor's place on it."""

    def __init__(self, site: SiteSpec, params: PresenceParams) -> None:
        self.params = params
        lamps = site.lamps
        self.order = np.lexsort((np.arange(len(lamps)), lamps.position_m, lamps.cluster))
        self.identity = bool(np.array_equal(self.order, np.arange(len(lamps))))
        self.lengths = np.array([c.length_m for c in site.clusters], dtype=np.float64)
        reach_pad = 1.0 + params.behind_m
        # Each cluster's key range starts past the previous one's end plus any reach; spans
        # that spill over are cut at the cluster bounds.
        self.offset = np.concatenate(([0.0], np.cumsum(self.lengths + reach_pad)[:-1]))
        self.line = KeyLine(self.offset[lamps.cluster[self.order]] + lamps.position_m[self.order])
        n_c = len(site.clusters)
        self.cstart = lamps.cluster[self.order].searchsorted(np.arange(n_c), side="left")
        self.cend = lamps.cluster[self.order].searchsorted(np.arange(n_c), side="right")
        self.sensor_cluster = np.array([s.cluster for s in site.sensors], dtype=np.intp)
        self.sensor_pos = np.array([s.position_m for s in site.sensors], dtype=np.float64)
        self.sensor_limit = np.array(
            [site.clusters[s.cluster].speed_limit_mps for s in site.sensors], dtype=np.float64
        )

    def nearest(self, clusters: IntArray, positions: FloatArray) -> IntArray:
        """The lamp nearest each position along its cluster's road (-1 if it has none)."""
        at = self.offset[clusters] + positions
        right = self.line.left(at)
        keys = self.line.keys
        cs, ce = self.cstart[clusters], self.cend[clusters]
        last = np.maximum(ce - 1, cs)
        r = np.minimum(np.maximum(right, cs), last)
        left = np.minimum(np.maximum(right - 1, cs), last)
        pick = np.where(np.abs(keys[left] - at) <= np.abs(keys[r] - at), left, r)
        pick = np.where(ce > cs, pick, -1)
        lamps = np.where(pick >= 0, self.order[np.maximum(pick, 0)], -1)
        return lamps.astype(np.intp)


REACQUIRE_M = 20.0
REACQUIRE_S = 2.0
REACQUIRE_DV = 2.0  # m/s
REACQUIRE_DV_SHARE = 0.3
_FEW_PAIRS = 24  # up to this many (new count, existing track) pairs: checked in Python

# Columns of the tracks' float table ...
_T0, _SPEED, _KEY0, _VEL, _KLO, _KHI, _DLO, _DHI = range(8)
# ... and of their int table.
_SENSOR, _LANE, _CS, _CE, _KF, _KB = range(6)


class Tracks:
    """Road users followed by dead reckoning: where they were counted, which way, how fast.

    A track lasts ``track_s`` after its count, or until its projected position leaves the road.
    Kept as two tables (floats, ints) of one row per track, with spare capacity, in lane
    order, so adding, dropping and projecting tracks are a few array operations whatever
    their number (a row is contiguous: dropping or reordering tracks moves whole rows).
    Positions are on the geometry's key line (a cluster's offset plus the position along its
    road).
    """

    def __init__(self, *, track_s: float, geometry: PresenceGeometry) -> None:
        self.track_s = track_s
        self._geo = geometry
        self.size = 0
        self._f, self._f_spare = np.zeros((64, 8)), np.zeros((64, 8))
        self._i, self._i_spare = np.zeros((64, 6), dtype=np.intp), np.zeros((64, 6), np.intp)
        self._new_rows(geometry)

    def _new_rows(self, geo: PresenceGeometry) -> None:
        """A track's rows as far as its sensor and direction fix them (row 2 x sensor + 1
        forward, + 0 backward), and per row what the speed adds to the window's ends."""
        p, s = geo.params, len(geo.sensor_cluster)
        cluster = np.repeat(geo.sensor_cluster, 2)
        fwd = np.tile([False, True], s)
        sign = np.where(fwd, 1.0, -1.0)
        f = np.zeros((2 * s, 8))
        f[:, _KEY0] = geo.offset[cluster] + np.repeat(geo.sensor_pos, 2)
        f[:, _KLO] = geo.offset[cluster]
        f[:, _KHI] = geo.offset[cluster] + geo.lengths[cluster]
        # the window: behind_m behind the road user, speed x lead_s ahead
        f[:, _DLO] = np.where(fwd, -p.behind_m, 0.0)
        f[:, _DHI] = np.where(fwd, 0.0, p.behind_m)
        # what each m/s of the road user's speed adds to the row (0 where it adds nothing,
        # and x + 0.0 == x): the speed itself, the velocity, the window's lead
        per_speed = np.zeros((2 * s, 8))
        per_speed[:, _SPEED] = 1.0
        per_speed[:, _VEL] = sign
        per_speed[:, _DLO] = np.where(fwd, 0.0, -p.lead_s)
        per_speed[:, _DHI] = np.where(fwd, p.lead_s, 0.0)
        i = np.zeros((2 * s, 6), dtype=np.intp)
        i[:, _SENSOR] = np.repeat(np.arange(s), 2)
        i[:, _LANE] = cluster * 2 + fwd
        i[:, _CS] = geo.cstart[cluster]
        i[:, _CE] = geo.cend[cluster]
        # at least min_lamps_ahead: forward past the first lamp at/after the road user,
        # backward before the last at/before it (the other direction's term never binds)
        far = len(geo.line.keys) + p.min_lamps_ahead + 1
        i[:, _KF] = np.where(fwd, p.min_lamps_ahead, -far)
        i[:, _KB] = np.where(fwd, far, -p.min_lamps_ahead)
        self._row_f, self._row_i, self._row_per_speed = f, i, per_speed

    @property
    def sensor(self) -> IntArray:
        return self._i[: self.size, _SENSOR]

    def add(self, now: float, which: IntArray, speed: FloatArray) -> None:
        """Start tracks at counting sensors: ``which`` are template rows (2 x sensor + 1
        travelling forward, + 0 backward), ``speed`` (> 0) their speeds. A track already
        there (same road and direction, projected within max(20 m, 2 s of its travel) of the
        sensor, speed within max(2 m/s, 30 %)) is the same road user counted again: the new
        count replaces it."""
        k, m = len(which), self.size
        self._reserve(m + k)
        f, i = self._f[m : m + k], self._i[m : m + k]
        # (mode="clip": the indices are in range, and "raise" would buffer the output)
        np.take(self._row_f, which, axis=0, out=f, mode="clip")
        f += self._row_per_speed.take(which, axis=0) * speed.reshape(-1, 1)
        f[:, _T0] = now
        np.take(self._row_i, which, axis=0, out=i, mode="clip")
        # The tracks kept (all but those re-acquired) and the new ones, in lane order (road,
        # then direction), in one pass over the tables: re-acquisition finds a lane's tracks
        # without sorting, and the windows' searches walk the key line in order. A stable
        # sort of sorted tracks plus a few new ones is nearly linear.
        gone = self._reacquired(now, f[:, _KEY0], i[:, _LANE], speed) if m else []
        lanes = self._i[:, _LANE]
        if gone:
            keep = np.ones(m + k, dtype=bool)
            keep[gone] = False
            rows = keep.nonzero()[0]
            self._reorder(rows[np.argsort(lanes.take(rows), kind="stable")])
        else:
            self._reorder(np.argsort(lanes[: m + k], kind="stable"))

    def _reorder(self, rows: IntArray) -> None:
        """Keep these rows of the tables, in this order (whole rows, into the spare tables,
        which then take the place of the current ones)."""
        size = len(rows)
        np.take(self._f, rows, axis=0, out=self._f_spare[:size], mode="clip")
        np.take(self._i, rows, axis=0, out=self._i_spare[:size], mode="clip")
        self._f, self._f_spare = self._f_spare, self._f
        self._i, self._i_spare = self._i_spare, self._i
        self.size = size

    def _reserve(self, size: int) -> None:
        cap = len(self._f)
        if size <= cap:
            return
        cap = max(size, 2 * cap)
        f, i = np.zeros((cap, self._f.shape[1])), np.zeros((cap, self._i.shape[1]), dtype=np.intp)
        f[: self.size], i[: self.size] = self._f[: self.size], self._i[: self.size]
        self._f, self._i = f, i
        self._f_spare, self._i_spare = np.zeros_like(f), np.zeros_like(i)

    def _reacquired(
        self, now: float, key: FloatArray, lane: IntArray, speed: FloatArray
    ) -> list[int]:
        """The rows of existing tracks that new counts at ``key`` re-acquire (same lane,
        projected near, similar speed)."""
        m = self.size
        lanes = self._i[:m, _LANE]  # sorted
        first = lanes.searchsorted(lane, side="left")
        count = lanes.searchsorted(lane, side="right") - first
        total = int(count.sum())
        if total <= _FEW_PAIRS:
            return self._reacquired_few(now, key, speed, first, count)
        # candidate pairs: existing tracks on the same road in the same direction
        f = self._f[:m]
        new_idx = np.repeat(np.arange(len(lane)), count)
        offsets = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        old = np.repeat(first, count) + offsets
        here = f[old, _KEY0] + f[old, _VEL] * (now - f[old, _T0])
        old_speed = f[old, _SPEED]
        near = np.maximum(REACQUIRE_M, REACQUIRE_S * old_speed)
        similar = np.maximum(REACQUIRE_DV, REACQUIRE_DV_SHARE * speed[new_idx])
        same = (np.abs(here - key[new_idx]) <= near) & (
            np.abs(old_speed - speed[new_idx]) <= similar
        )
        gone: list[int] = old.compress(same).tolist()
        return gone

    def _reacquired_few(
        self, now: float, key: FloatArray, speed: FloatArray, first: IntArray, count: IntArray
    ) -> list[int]:
        """``_reacquired`` for a handful of candidate pairs: the same arithmetic on Python
        floats (IEEE doubles, as numpy's), without a dozen array calls to set the pairs up."""
        gone: list[int] = []
        for j in count.nonzero()[0].tolist():
            new_key, new_speed = float(key[j]), float(speed[j])
            similar = max(REACQUIRE_DV, REACQUIRE_DV_SHARE * new_speed)
            start = int(first[j])
            rows = self._f[start : start + int(count[j])].tolist()
            for r, row in enumerate(rows, start):
                here = row[_KEY0] + row[_VEL] * (now - row[_T0])
                near = max(REACQUIRE_M, REACQUIRE_S * row[_SPEED])
                if abs(here - new_key) <= near and abs(row[_SPEED] - new_speed) <= similar:
                    gone.append(r)
        return gone

    def at(self, now: float) -> FloatArray:
        """Each tracked road user's projected position on the key line."""
        f = self._f[: self.size]
        at: FloatArray = np.subtract(now, f[:, _T0])
        at *= f[:, _VEL]
        at += f[:, _KEY0]
        return at

    def expire(self, now: float) -> FloatArray:
        """Drop the tracks past ``track_s`` or off their road; the others' positions."""
        f = self._f[: self.size]
        at = self.at(now)
        keep = f[:, _T0] >= now - self.track_s
        keep &= at >= f[:, _KLO]
        keep &= at <= f[:, _KHI]
        if not keep.all():
            self._reorder(keep.nonzero()[0])  # whole rows (a mask copies slower)
            at = at.compress(keep)
        return at

    def windows(self, at: FloatArray) -> tuple[IntArray, IntArray]:
        """[lo, hi) positions in lamp order of the lamps to light for each track at ``at``.

        Ahead: every lamp within speed x lead_s, and at least ``min_lamps_ahead``.
        Behind: lamps within ``behind_m``. A lamp level with the road user counts as ahead.
        """
        m = self.size
        f, i = self._f[:m], self._i[:m]
        q = np.empty((3, m))
        np.add(at, f[:, _DLO], out=q[0])  # lo: first lamp at/after the window's low end
        np.add(at, f[:, _DHI], out=q[1])  # hi: first lamp past its high end
        np.nextafter(q[1], np.inf, out=q[1])
        q[2] = at  # the first lamp at/after the road user (forward), past it (backward)
        np.nextafter(at, np.inf, out=q[2], where=i[:, _KF] < 0)  # backward tracks
        found = self._geo.line.left(q.reshape(-1)).reshape(3, m)
        lo, hi, ref = found[0], found[1], found[2]
        np.maximum(hi, ref + i[:, _KF], out=hi)
        np.minimum(lo, ref + i[:, _KB], out=lo)
        # clipped to the cluster (two ufuncs each: np.clip's wrapper costs more than the work)
        ce = i[:, _CE]
        np.maximum(lo, i[:, _CS], out=lo)
        np.minimum(lo, ce, out=lo)
        np.maximum(hi, lo, out=hi)
        np.minimum(hi, ce, out=hi)
        return lo, hi

    def lamps_in(self, lo: IntArray, hi: IntArray) -> IntArray:
        """The lamps (indices) in the windows [lo, hi) of positions in lamp order (a lamp in
        several windows appears once per window)."""
        lengths = hi - lo
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, dtype=np.intp)
        ends = np.cumsum(lengths)
        ends -= lengths  # each window's first slot in the output
        pos = np.arange(total)
        pos += np.repeat(lo - ends, lengths)
        geo = self._geo
        return pos if geo.identity else geo.order.take(pos)
