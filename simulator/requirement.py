"""Every road user, every night tick, scored against the fixed requirement (docs/policy.md).

The requirement does not read the policy's settings: at a road user's position it is the
class its road's true traffic warrants (``edge.control`` ``required_steps``: the flow of
the trailing 15 minutes, all kinds and both directions, relative to capacity), and the
lamp nearest the road user is under-lit when its light is below that class's level by
more than ``REQUIREMENT_MARGIN``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.control import (
    REQUIREMENT_MARGIN,
    REQUIREMENT_THRESHOLDS,
    REQUIREMENT_WINDOW_S,
    SiteSpec,
    class_ratio,
    class_step,
)

__all__ = ["RequirementScorer", "percentiles"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def percentiles(waits: FloatArray) -> dict[str, float | None]:
    """p50 and p99 of the count -> requirement waits (None without any)."""
    return {
        f"detection_to_requirement_p{q}_s": round(float(np.percentile(waits, q)), 2)
        if len(waits)
        else None
        for q in (50, 99)
    }


class RequirementScorer:
    """Under-lit time per road user and per road, the worst shortfall, and how long after a
    sensor counted a road user its light met the requirement. With ``replicas`` of the site
    side by side (``SiteSpec.tiled``; ``entry_cluster`` counts the replicas' clusters on),
    the KPIs are each replica's own."""

    def __init__(
        self, *, site: SiteSpec, entry_s: FloatArray, entry_cluster: IntArray, replicas: int = 1
    ) -> None:
        n_users, n_c = len(entry_s), len(site.clusters) * replicas
        self.site, self._per_replica = site, len(site.clusters)
        rated = [c.rated_class for c in site.clusters]
        # per cluster, the required level 0, 1 and 2 classes below rated (M roads); P and C
        # roads need the rated class while anyone is there
        levels = [[class_ratio(class_step(r, s), r) if r[0] == "M" else 1.0 for s in range(3)]
                  for r in rated]  # fmt: skip
        self._levels = np.tile(np.array(levels).reshape(-1, 3), (replicas, 1))
        self._capacity = np.tile([c.capacity_per_h for c in site.clusters], replicas)
        self._user_replica = entry_cluster // max(self._per_replica, 1)
        # every arrival on one line, cluster by cluster and by time within each, a cluster's
        # followed by an inf: a cluster's place on the line steps on, never into the next's
        counts = np.bincount(entry_cluster, minlength=n_c)
        order = np.lexsort((entry_s, entry_cluster))
        self._line = np.insert(entry_s[order], np.cumsum(counts), np.inf)
        self._first = np.cumsum(counts + 1) - (counts + 1)
        self.night_s = np.zeros(n_users)
        self.under_s = np.zeros(n_users)
        self.under_seen_s = np.zeros(n_users)  # under-lit after a sensor counted it
        self.seen_s = np.zeros(n_users)  # on the road at night after a sensor counted it
        self.met_at = np.full(n_users, math.nan)  # first tick meeting it after being counted
        self.last_at = np.full(n_users, math.nan)  # the last night tick it was on its road
        self._under_before = np.zeros(n_users, dtype=bool)
        self.shortfall = np.zeros(n_c)  # the worst per road
        self.cluster_s = np.zeros(n_c)
        self.cluster_under_s = np.zeros(n_c)
        # the requirement holds until a road user comes on or leaves a window: kept for
        # [from, until) of rel (until a millisecond early, whatever the rounding)
        self._required = np.zeros(n_c)
        self._required_span = (np.inf, -np.inf)
        # per cluster, where the line passes the tick and the window's start: they only move on
        self._until = self._first.copy()
        self._since = self._first.copy()
        self._rel = -np.inf

    def required(self, rel: float) -> FloatArray:
        """Per cluster, the level the requirement asks of a lamp at a road user now (``rel``
        seconds after the start); the same array until it changes."""
        begin, end = self._required_span
        if begin <= rel < end:
            return self._required
        if rel < self._rel:  # back in time: from each cluster's first arrival again
            self._until, self._since = self._first.copy(), self._first.copy()
        self._step_past(self._until, rel)
        self._step_past(self._since, rel - REQUIREMENT_WINDOW_S)
        self._rel = rel
        until, since = self._until, self._since
        counts = (until - since).astype(np.float64)
        ratio = counts * (3600.0 / REQUIREMENT_WINDOW_S) / self._capacity
        high, low = REQUIREMENT_THRESHOLDS
        steps = np.where(ratio >= high, 0, np.where(ratio >= low, 1, 2))
        out: FloatArray = self._levels[np.arange(len(steps)), steps]
        # the next arrival onto a road, or out of a window
        line = self._line
        comes = float(line[until].min(initial=np.inf))
        goes = float(line[since].min(initial=np.inf)) + REQUIREMENT_WINDOW_S
        self._required, self._required_span = out, (rel, min(comes, goes) - 1e-3)
        return out

    def _step_past(self, at: IntArray, limit: float) -> None:
        """Move each cluster's index ``at`` on past its arrivals up to ``limit`` (in place)."""
        while True:
            below = self._line[at] <= limit
            if not below.any():
                return
            at += below

    def score(
        self,
        now: float,
        rel: float,
        tick: float,
        users: IntArray,
        cluster: IntArray,
        light: FloatArray,
        seen_at: FloatArray,
    ) -> None:
        """One night tick: road users ``users`` on ``cluster`` whose nearest lamp gives
        ``light`` (relative to its rated output); ``seen_at`` per road user (absolute)."""
        if not len(users):
            return
        need = self.required(rel)[cluster]
        short = need - light
        under = short > REQUIREMENT_MARGIN + 1e-9
        self.night_s[users] += tick
        self.under_s[users[under]] += tick
        self.cluster_s += np.bincount(cluster, minlength=len(self.cluster_s)) * tick
        self.cluster_under_s += np.bincount(cluster[under], minlength=len(self.cluster_s)) * tick
        if under.any():
            np.maximum.at(self.shortfall, cluster[under], short[under])
        seen = seen_at[users] <= now
        self.seen_s[users[seen]] += tick
        self.under_seen_s[users[seen & under]] += tick
        waiting = seen & np.isnan(self.met_at[users]) & ~under
        if waiting.any():
            who = users[waiting]
            # met already before it was counted (lit at its last tick): no wait at all
            self.met_at[who] = np.where(self._under_before[who], now, seen_at[who])
        self._under_before[users] = under
        self.last_at[users] = now

    def _of(self, replica: int) -> tuple[IntArray, slice]:
        """A replica's road users and clusters."""
        users: IntArray = (self._user_replica == replica).nonzero()[0]
        c = self._per_replica
        return users, slice(replica * c, (replica + 1) * c)

    def latencies(self, seen_at: FloatArray, replica: int = 0) -> FloatArray:
        """Per road user (of ``replica``) counted at night: seconds from its first count to
        the first tick its light met the requirement (never met: its whole stay after the
        count)."""
        users, _ = self._of(replica)
        seen_at = seen_at[users]
        seen = (self.night_s[users] > 0) & np.isfinite(seen_at) & (self.seen_s[users] > 0)
        met_at = self.met_at[users]
        never = seen & np.isnan(met_at)
        wait = np.where(never, self.last_at[users] - seen_at, met_at - seen_at)
        out: FloatArray = wait[seen]
        return out

    def kpis(self, seen_at: FloatArray, replica: int = 0) -> dict[str, Any]:
        """The safety KPIs of the night so far (of ``replica``)."""
        users, roads = self._of(replica)
        night_s, under_s = self.night_s[users], self.under_s[users]
        seen_s, under_seen_s = self.seen_s[users], self.under_seen_s[users]
        on = night_s > 0
        seen = on & np.isfinite(seen_at[users]) & (seen_s > 0)
        total = float(night_s.sum())

        def share(under: float, of: float) -> float:
            return round(under / of, 6) if of > 0 else 0.0

        never = seen & np.isnan(self.met_at[users])
        latency = self.latencies(seen_at, replica)
        dark = latency[latency > 0]  # counted while under-lit: the wait the policy made
        worst = int(np.argmax(under_s)) if on.any() else -1
        cluster_s, cluster_under_s = self.cluster_s[roads], self.cluster_under_s[roads]
        return {
            "road_users": int(on.sum()),
            "road_user_seconds": round(total, 1),
            "underlit_s": round(float(under_s.sum()), 1),
            "detected_seconds": round(float(seen_s.sum()), 1),
            "detected_underlit_s": round(float(under_seen_s.sum()), 1),
            "underlit_share": share(float(under_s.sum()), total),
            "underlit_road_users": int((under_s > 0).sum()),
            "worst_shortfall": round(float(self.shortfall[roads].max(initial=0.0)), 3),
            "detected": int(seen.sum()),
            "detected_underlit_share": share(float(under_seen_s.sum()), float(seen_s.sum())),
            "detected_underlit_share_whole_stay": share(
                float(under_s[seen].sum()), float(night_s[seen].sum())
            ),
            "undetected": int((on & ~seen).sum()),
            "undetected_underlit_share": share(
                float(under_s[on & ~seen].sum()), float(night_s[on & ~seen].sum())
            ),
            "worst_road_user_underlit_s": round(float(under_s[worst]), 1) if worst >= 0 else 0.0,
            "worst_road_user_detected": bool(seen[worst]) if worst >= 0 else False,
            **percentiles(latency),
            "never_met_after_detection": int(never.sum()),
            "counted_while_underlit": len(dark),
            **{f"{k}_if_underlit": v for k, v in percentiles(dark).items()},
            "per_road": {
                c.id: {
                    "road_user_seconds": round(float(cluster_s[k]), 1),
                    "underlit_share": share(float(cluster_under_s[k]), float(cluster_s[k])),
                }
                for k, c in enumerate(self.site.clusters)
            },
        }
