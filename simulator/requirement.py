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
    sensor counted a road user its light met the requirement."""

    def __init__(self, *, site: SiteSpec, entry_s: FloatArray, entry_cluster: IntArray) -> None:
        n_users, n_c = len(entry_s), len(site.clusters)
        self.site = site
        rated = [c.rated_class for c in site.clusters]
        # per cluster, the required level 0, 1 and 2 classes below rated (M roads); P and C
        # roads need the rated class while anyone is there
        self._levels = np.array(
            [
                [class_ratio(class_step(r, s), r) if r[0] == "M" else 1.0 for s in range(3)]
                for r in rated
            ]
        )
        self._capacity = np.array([c.capacity_per_h for c in site.clusters])
        # every arrival on one sorted line, each cluster's 10^7 s (115 days) after the one
        # before: two searches a tick, whatever the number of clusters
        span = 1e7
        self._line = np.sort(entry_cluster * span + entry_s)
        self._padded = np.append(self._line, np.inf)
        self._base: FloatArray = np.arange(n_c, dtype=np.float64) * span
        self.night_s = np.zeros(n_users)
        self.under_s = np.zeros(n_users)
        self.under_seen_s = np.zeros(n_users)  # under-lit after a sensor counted it
        self.seen_s = np.zeros(n_users)  # on the road at night after a sensor counted it
        self.met_at = np.full(n_users, math.nan)  # first tick meeting it after being counted
        self.last_at = np.full(n_users, math.nan)  # the last night tick it was on its road
        self._under_before = np.zeros(n_users, dtype=bool)
        self.shortfall = 0.0
        self.cluster_s = np.zeros(n_c)
        self.cluster_under_s = np.zeros(n_c)
        # the requirement holds until a road user comes on or leaves a window: kept for
        # [from, until) of rel (until a millisecond early, whatever the rounding)
        self._required = np.zeros(n_c)
        self._required_span = (np.inf, -np.inf)
        # per cluster, where the line passes the tick and the window's start: they only move on
        self._until = np.zeros(n_c, dtype=np.intp)
        self._since = np.zeros(n_c, dtype=np.intp)
        self._rel = np.inf

    def required(self, rel: float) -> FloatArray:
        """Per cluster, the level the requirement asks of a lamp at a road user now (``rel``
        seconds after the start); the same array until it changes."""
        begin, end = self._required_span
        if begin <= rel < end:
            return self._required
        now: FloatArray = self._base + rel
        window: FloatArray = self._base + (rel - REQUIREMENT_WINDOW_S)
        if rel < self._rel:  # the first tick (or back in time): search
            self._until = self._line.searchsorted(now, "right")
            self._since = self._line.searchsorted(window, "right")
        else:  # a few arrivals on from the last tick's: step over them
            self._step_past(self._until, now)
            self._step_past(self._since, window)
        self._rel = rel
        until, since = self._until, self._since
        counts = (until - since).astype(np.float64)
        ratio = counts * (3600.0 / REQUIREMENT_WINDOW_S) / self._capacity
        high, low = REQUIREMENT_THRESHOLDS
        steps = np.where(ratio >= high, 0, np.where(ratio >= low, 1, 2))
        out: FloatArray = self._levels[np.arange(len(steps)), steps]
        # the next arrival onto a road, or out of a window (a later road's first arrival
        # stands in for a road's none: only sooner)
        line = self._padded
        comes = float((line[until] - self._base).min())
        goes = float((line[since] - self._base).min()) + REQUIREMENT_WINDOW_S
        self._required, self._required_span = out, (rel, min(comes, goes) - 1e-3)
        return out

    def _step_past(self, at: IntArray, limit: FloatArray) -> None:
        """Move each cluster's index ``at`` on past the arrivals up to ``limit`` (in place):
        then it is ``searchsorted(limit, "right")``, as ``at`` was for a lower limit."""
        while True:
            below = self._padded[at] <= limit
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
            self.shortfall = max(self.shortfall, float(short[under].max()))
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

    def latencies(self, seen_at: FloatArray) -> FloatArray:
        """Per road user counted at night: seconds from its first count to the first tick its
        light met the requirement (never met: its whole stay after the count)."""
        seen = (self.night_s > 0) & np.isfinite(seen_at) & (self.seen_s > 0)
        never = seen & np.isnan(self.met_at)
        wait = np.where(never, self.last_at - seen_at, self.met_at - seen_at)
        out: FloatArray = wait[seen]
        return out

    def kpis(self, seen_at: FloatArray) -> dict[str, Any]:
        """The safety KPIs of the night so far."""
        on = self.night_s > 0
        seen = on & np.isfinite(seen_at) & (self.seen_s > 0)
        total = float(self.night_s.sum())

        def share(under: float, of: float) -> float:
            return round(under / of, 6) if of > 0 else 0.0

        never = seen & np.isnan(self.met_at)
        latency = self.latencies(seen_at)
        dark = latency[latency > 0]  # counted while under-lit: the wait the policy made
        worst = int(np.argmax(self.under_s)) if on.any() else -1
        return {
            "road_users": int(on.sum()),
            "road_user_seconds": round(total, 1),
            "underlit_s": round(float(self.under_s.sum()), 1),
            "detected_seconds": round(float(self.seen_s.sum()), 1),
            "detected_underlit_s": round(float(self.under_seen_s.sum()), 1),
            "underlit_share": share(float(self.under_s.sum()), total),
            "underlit_road_users": int((self.under_s > 0).sum()),
            "worst_shortfall": round(self.shortfall, 3),
            "detected": int(seen.sum()),
            "detected_underlit_share": share(
                float(self.under_seen_s.sum()), float(self.seen_s.sum())
            ),
            "detected_underlit_share_whole_stay": share(
                float(self.under_s[seen].sum()), float(self.night_s[seen].sum())
            ),
            "undetected": int((on & ~seen).sum()),
            "undetected_underlit_share": share(
                float(self.under_s[on & ~seen].sum()), float(self.night_s[on & ~seen].sum())
            ),
            "worst_road_user_underlit_s": round(float(self.under_s[worst]), 1)
            if worst >= 0
            else 0.0,
            "worst_road_user_detected": bool(seen[worst]) if worst >= 0 else False,
            **percentiles(latency),
            "never_met_after_detection": int(never.sum()),
            "counted_while_underlit": len(dark),
            **{f"{k}_if_underlit": v for k, v in percentiles(dark).items()},
            "per_road": {
                c.id: {
                    "road_user_seconds": round(float(self.cluster_s[k]), 1),
                    "underlit_share": share(
                        float(self.cluster_under_s[k]), float(self.cluster_s[k])
                    ),
                }
                for k, c in enumerate(self.site.clusters)
            },
        }
