"""Which lamps a counted road user lights up: from a little behind the slowest place it may
be to its speed x lead time ahead of the fastest.

Vectorised over every tracked road user at once: lamps are sorted once by (cluster, position)
into one key line, each cluster offset past the previous one, so one search finds every
span's ends, and the spans expand into lamp indices without a Python loop over lamps.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.control._inputs import KIND_SPEED_BANDS, KINDS
from edge.control._keyline import KeyLine
from edge.control._spec import PresenceParams, SiteSpec

__all__ = ["PresenceGeometry", "Tracks", "speed_bands"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def speed_bands(
    single: npt.NDArray[np.bool_], mean_speed: FloatArray, limit: FloatArray, spread: float
) -> tuple[FloatArray, FloatArray]:
    """Per (report, kind), the slowest and fastest a road user counted there may go (m/s):
    the report's mean speed +- ``spread`` when it is measured (> 0 and finite: an infinite
    one would put the road user off its road at once) and the report counts ``single`` road
    user (a mean of several says little of each), else the kind's band
    (``KIND_SPEED_BANDS``; cars relative to the road's ``limit``). A pedestrian may always be
    slower: people stop a while."""
    band = np.array([KIND_SPEED_BANDS[k] for k in KINDS])  # (kinds, 2)
    car = np.array([k == "car" for k in KINDS])
    scale = np.where(car[None, :], limit[:, None], 1.0)  # (reports, kinds)
    low, high = band[None, :, 0] * scale, band[None, :, 1] * scale
    measured = (mean_speed > 0) & (mean_speed < np.inf) & single
    m = np.where(measured, mean_speed, 1.0)[:, None]
    low = np.where(measured[:, None], m * (1.0 - spread), low)
    high = np.where(measured[:, None], m * (1.0 + spread), high)
    walk = np.array([k == "pedestrian" for k in KINDS])[None, :]
    low = np.where(walk, np.minimum(low, band[KINDS.index("pedestrian"), 0]), low)
    return np.maximum(low, 0.0), np.maximum(high, 1e-3)


class PresenceGeometry:
    """Lamps in (cluster, position) order on one key line, each sensor's place on it, and
    the entry lamps (lit at the presence level all night where road users come on)."""

    def __init__(self, site: SiteSpec, params: PresenceParams) -> None:
        self.params = params
        lamps = site.lamps
        self.order = np.lexsort((np.arange(len(lamps)), lamps.position_m, lamps.cluster))
        self.identity = bool(np.array_equal(self.order, np.arange(len(lamps))))
        self.rank = np.empty(len(lamps), dtype=np.intp)  # each lamp's place in that order
        self.rank[self.order] = np.arange(len(lamps))
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
        self.sensor_directional = np.array([s.directional for s in site.sensors], dtype=bool)
        self.sensor_limit = np.array(
            [site.clusters[s.cluster].speed_limit_mps for s in site.sensors], dtype=np.float64
        )
        self.entry = self._entry_lamps(site)

    def _entry_lamps(self, site: SiteSpec) -> npt.NDArray[np.bool_]:
        """Per lamp, whether it lights a road end where road users come on: every lamp from
        the end up to the one nearest ``entry_s`` of travel at the speed limit in (so the
        lamp nearest any place in that stretch is lit)."""
        entry = np.zeros(len(site.lamps), dtype=bool)
        if not self.params.enabled or self.params.entry_s <= 0:
            return entry
        pos = site.lamps.position_m
        for k, cl in enumerate(site.clusters):
            mine = (site.lamps.cluster == k).nonzero()[0]
            if not len(mine):
                continue
            reach = self.params.entry_s * cl.speed_limit_mps
            ends = [(0.0, 1.0), (cl.length_m, -1.0)] if cl.two_way else [(0.0, 1.0)]
            for end, inward in ends:
                depth = (pos[mine] - end) * inward  # distance in from the end
                nearest = mine[np.argmin(np.abs(depth - reach))]
                entry[mine[depth <= (pos[nearest] - end) * inward]] = True
        return entry

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


#: A new count re-acquires a track when the sensor lies within the track's span of places,
#: widened by this much (m) or this long of the track's fastest travel (a report arrives
#: up to a second or two after the crossing).
REACQUIRE_M = 10.0
REACQUIRE_S = 2.5

# Columns of the tracks' float table ...
_T0, _KEY0, _VLO, _VHI, _DLO, _DHI, _KLO, _KHI = range(8)
# ... and of their int table.
_SENSOR, _LANE, _CS, _CE, _KF, _KB, _KIND, _BOTH = range(8)


class Tracks:
    """Road users followed along their road: where they were counted, which way, how fast
    they may go.

    A track is the span of places its road user may be: from where the slowest speed it
    may have takes it to where the fastest does. It ends ``track_s`` after the count, or
    once even its slowest place has left the road, or when a later count re-acquires it.
    A count that says no direction (a PIR) starts a track each way, and re-acquires none:
    at a road's end it cannot tell a road user leaving from one coming on, so only a
    count with a direction (a radar) replaces a track, one going its way.
    Kept as two tables (floats, ints) of one row per track, in the order they were added,
    so adding, dropping and projecting tracks are a few array operations.
    Places are on the geometry's key line (a cluster's offset plus the place along it).
    """

    def __init__(self, *, track_s: float, geometry: PresenceGeometry) -> None:
        self.track_s = track_s
        self._geo = geometry
        self.size = 0
        # the tables and a spare pair to compact into, rows to spare: under a flood (or a
        # year of nights side by side) they hold thousands, and a fresh table every step
        # costs page faults
        self._f, self._i = np.zeros((64, 8)), np.zeros((64, 8), dtype=np.intp)
        self._spare = np.zeros((64, 8)), np.zeros((64, 8), dtype=np.intp)
        self._no_lanes = np.zeros(2 * len(geometry.lengths), dtype=bool)
        self._templates(geometry)

    def _templates(self, geo: PresenceGeometry) -> None:
        """A track's rows as far as its sensor and direction fix them: row 2 x sensor + 1
        travelling forward, + 0 backward."""
        p, s = geo.params, len(geo.sensor_cluster)
        cluster = np.repeat(geo.sensor_cluster, 2)
        fwd = np.tile([False, True], s)
        f = np.zeros((2 * s, 8))
        f[:, _KEY0] = geo.offset[cluster] + np.repeat(geo.sensor_pos, 2)
        f[:, _KLO] = geo.offset[cluster]
        f[:, _KHI] = geo.offset[cluster] + geo.lengths[cluster]
        i = np.zeros((2 * s, 8), dtype=np.intp)
        i[:, _SENSOR] = np.repeat(np.arange(s), 2)
        i[:, _LANE] = cluster * 2 + fwd
        i[:, _CS] = geo.cstart[cluster]
        i[:, _CE] = geo.cend[cluster]
        # at least min_lamps_ahead: forward past the first lamp at/after the fastest place,
        # backward before the last at/before it (the other direction's term never binds)
        far = len(geo.line.keys) + p.min_lamps_ahead + 1
        i[:, _KF] = np.where(fwd, p.min_lamps_ahead, -far)
        i[:, _KB] = np.where(fwd, far, -p.min_lamps_ahead)
        self._row_f, self._row_i = f, i

    @property
    def sensor(self) -> IntArray:
        return self._i[: self.size, _SENSOR]

    def add(
        self,
        now: float,
        sensor: IntArray,
        forward: npt.NDArray[np.bool_],
        kind: IntArray,
        low: FloatArray,
        high: FloatArray,
        both: npt.NDArray[np.bool_],
    ) -> None:
        """Start tracks at counting sensors (one row each: its direction, kind, slowest and
        fastest speed, > 0, and whether it is one of the two of a count with no direction).
        A track counted again by a count with a direction is re-acquired: the new count
        replaces it."""
        p = self._geo.params
        which = sensor * 2 + forward
        f = self._row_f.take(which, axis=0)
        i = self._row_i.take(which, axis=0)
        f[:, _T0] = now
        f[:, _VLO] = np.where(forward, low, -high)
        f[:, _VHI] = np.where(forward, high, -low)
        f[:, _DLO] = np.where(forward, p.behind_m, high * p.lead_s)
        f[:, _DHI] = np.where(forward, high * p.lead_s, p.behind_m)
        i[:, _KIND] = kind
        i[:, _BOTH] = both
        if self.size and not both.all():
            keep = np.ones(self.size, dtype=bool)
            self._reacquire(now, f, i, keep)
            if not keep.all():
                self._keep(keep.nonzero()[0])
        self._append(f, i)

    def _keep(self, rows: IntArray) -> None:
        """Keep only these rows, in their order (taken into the spare tables, then swapped)."""
        spare_f, spare_i = self._spare
        n = len(rows)
        np.take(self._f, rows, axis=0, out=spare_f[:n], mode="clip")  # clip: unbuffered
        np.take(self._i, rows, axis=0, out=spare_i[:n], mode="clip")
        self._spare = self._f, self._i
        self._f, self._i, self.size = spare_f, spare_i, n

    def _append(self, f: FloatArray, i: IntArray) -> None:
        """New rows after the others (the tables twice as large when they are full)."""
        end = self.size + len(f)
        if end > len(self._f):
            rows = max(end, 2 * len(self._f))
            grown_f, grown_i = np.zeros((rows, 8)), np.zeros((rows, 8), dtype=np.intp)
            grown_f[: self.size], grown_i[: self.size] = self._f[: self.size], self._i[: self.size]
            self._f, self._i = grown_f, grown_i
            self._spare = np.zeros((rows, 8)), np.zeros((rows, 8), dtype=np.intp)
        self._f[self.size : end], self._i[self.size : end] = f, i
        self.size = end

    def _reacquire(
        self, now: float, f: FloatArray, i: IntArray, keep: npt.NDArray[np.bool_]
    ) -> None:
        """Clear ``keep`` of the tracks new counts re-acquire: both with a direction, the
        same road, direction and kind, the new sensor within the track's span of places
        (widened by ``REACQUIRE_M`` or ``REACQUIRE_S`` of its fastest travel), never at the
        sensor the track started from; each new count takes the nearest such track. The new
        track keeps lit, behind its sensor, every place the replaced track's road user may
        still be, and its slowest speed (it may not be the one counted)."""
        lanes = self._i[: self.size, _LANE]
        new_lane = i[:, _LANE]
        on_lane = self._no_lanes.copy()
        on_lane[new_lane] = True
        near = on_lane.take(lanes).nonzero()[0]  # the tracks on a lane a new count is on
        if not len(near):
            return
        near = near[np.argsort(lanes[near], kind="stable")]  # by lane, each in its order
        near_lane = lanes[near]
        first = near_lane.searchsorted(new_lane, side="left")
        count = near_lane.searchsorted(new_lane, side="right") - first
        total = int(count.sum())
        new = np.repeat(np.arange(len(new_lane)), count)
        into = np.arange(total) - np.repeat(np.cumsum(count) - count, count)  # within its lane
        old = near[np.repeat(first, count) + into]
        of, oi = self._f.take(old, axis=0), self._i.take(old, axis=0)
        dt = now - of[:, _T0]
        lo = of[:, _KEY0] + of[:, _VLO] * dt
        hi = of[:, _KEY0] + of[:, _VHI] * dt
        fastest = np.maximum(np.abs(of[:, _VLO]), np.abs(of[:, _VHI]))
        slack = np.maximum(REACQUIRE_M, REACQUIRE_S * fastest)
        key = f[new, _KEY0]
        ok = (key >= lo - slack) & (key <= hi + slack)
        ok &= oi[:, _SENSOR] != i[new, _SENSOR]
        ok &= oi[:, _KIND] == i[new, _KIND]
        ok &= (oi[:, _BOTH] == 0) & (i[new, _BOTH] == 0)
        if not ok.any():
            return
        new, old = new[ok], old[ok]
        dist = np.abs((lo[ok] + hi[ok]) / 2.0 - key[ok])
        by_dist = np.argsort(dist, kind="stable")
        new, old = new[by_dist], old[by_dist]
        _, first_new = np.unique(new, return_index=True)  # each new count: its nearest track
        new, old = new[first_new], old[first_new]
        keep[old] = False
        # behind the sensor: from the replaced track's slowest place (going forward) or its
        # fastest (going backward, its places below the sensor's are ahead of it)
        lo, hi = lo[ok][by_dist][first_new], hi[ok][by_dist][first_new]
        fwd = i[new, _LANE] % 2 == 1
        key = f[new, _KEY0]
        f[new, _DLO] += np.where(fwd, np.maximum(key - lo, 0.0), 0.0)
        f[new, _DHI] += np.where(fwd, 0.0, np.maximum(hi - key, 0.0))
        # ... and it moves no faster than the replaced one's slowest road user could
        f[new, _VLO] = np.where(fwd, np.minimum(f[new, _VLO], self._f[old, _VLO]), f[new, _VLO])
        f[new, _VHI] = np.where(fwd, f[new, _VHI], np.maximum(f[new, _VHI], self._f[old, _VHI]))

    def shift(self, delta: float) -> None:
        """The clock moved by ``delta``: every road user is where it was."""
        self._f[: self.size, _T0] += delta

    def project(self, now: float) -> tuple[FloatArray, FloatArray]:
        """Each track's slowest and fastest place on the key line now (low, high)."""
        f = self._f[: self.size]
        dt = np.subtract(now, f[:, _T0])
        return f[:, _KEY0] + f[:, _VLO] * dt, f[:, _KEY0] + f[:, _VHI] * dt

    def expire(self, now: float) -> tuple[FloatArray, FloatArray]:
        """Drop the tracks past ``track_s`` or whose every place has left the road; the
        others' low and high places."""
        f = self._f[: self.size]
        low, high = self.project(now)
        keep = f[:, _T0] >= now - self.track_s
        keep &= low <= f[:, _KHI]
        keep &= high >= f[:, _KLO]
        if not keep.all():
            rows = keep.nonzero()[0]
            self._keep(rows)
            low, high = low[rows], high[rows]
        return low, high

    def windows(self, low: FloatArray, high: FloatArray) -> tuple[IntArray, IntArray]:
        """[lo, hi) positions in lamp order of the lamps to light for each track: from
        behind its slowest place to ahead of its fastest (``_DLO``/``_DHI`` past them), and
        at least ``min_lamps_ahead`` lamps ahead of its fastest place. A lamp level with the
        road user counts as ahead."""
        m = self.size
        f, i = self._f[:m], self._i[:m]
        fwd = i[:, _KF] >= 0
        edge = np.where(fwd, high, low)  # the fastest place in the direction of travel
        q = np.empty((3, m))
        np.subtract(low, f[:, _DLO], out=q[0])  # lo: first lamp at/after the window's low end
        np.add(high, f[:, _DHI], out=q[1])  # hi: first lamp past its high end
        np.nextafter(q[1], np.inf, out=q[1])
        q[2] = np.where(fwd, edge, np.nextafter(edge, np.inf))  # at/after (fwd), past (back)
        found = self._geo.line.left(q.reshape(-1)).reshape(3, m)
        lo, hi, ref = found[0], found[1], found[2]
        np.maximum(hi, ref + i[:, _KF], out=hi)
        np.minimum(lo, ref + i[:, _KB], out=lo)
        ce = i[:, _CE]
        lo = np.minimum(np.maximum(lo, i[:, _CS]), ce)
        hi = np.minimum(np.maximum(hi, lo), ce)
        return lo, hi

    def lamps_in(self, lo: IntArray, hi: IntArray) -> IntArray | npt.NDArray[np.bool_]:
        """The lamps in the windows [lo, hi) of positions in lamp order: their indices (a
        lamp in several windows once per window), or, when the windows hold more places
        than an eighth of the lamps (thousands of road users followed), a mask of them
        (a count up and down at each window's ends, summed along the line)."""
        lengths = hi - lo
        total = int(lengths.sum())
        geo = self._geo
        n = len(geo.order)
        if total == 0:
            return np.zeros(0, dtype=np.intp)
        if total > n // 8:
            ends = np.bincount(lo, minlength=n + 1)
            ends -= np.bincount(hi, minlength=n + 1)
            inside: npt.NDArray[np.bool_] = np.cumsum(ends[:n]) > 0
            return inside if geo.identity else inside.take(geo.rank)
        starts = np.cumsum(lengths)
        starts -= lengths  # each window's first slot in the output
        pos = np.arange(total)
        pos += np.repeat(lo - starts, lengths)
        return pos if geo.identity else geo.order.take(pos)
