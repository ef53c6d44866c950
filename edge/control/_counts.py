"""A tick's sensor counts into the controller: checked, then into the flow windows and the
sensors' last-seen times, and each road user counted into a track."""

from __future__ import annotations

import numpy as np

from edge.control import _events as ev
from edge.control._boost import PresenceBoost
from edge.control._clusters import ClusterTraffic
from edge.control._inputs import CountsBatch
from edge.control._result import Event

__all__ = ["ingest_counts"]


def ingest_counts(
    now: float,
    batch: CountsBatch,
    traffic: ClusterTraffic,
    presence: PresenceBoost,
    events: list[Event],
) -> None:
    """Every count of the batch at once. A row naming an unknown sensor, or with a negative
    count or a non-positive interval, is rejected by name (an event); the rest count."""
    k = len(batch.sensors)
    n_sensors = len(traffic.last_seen)
    if batch.index is not None:
        sidx = np.asarray(batch.index, dtype=np.intp)
    else:
        index = traffic.sensor_index
        sidx = np.fromiter((index.get(s, -1) for s in batch.sensors), np.intp, k)
    moving = np.concatenate((batch.forward, batch.backward))  # both directions at once
    mean = batch.mean_speed_mps
    # one pass each: a negative index is a huge unsigned one
    bad = k > 0 and (
        sidx.view(np.uintp).max() >= n_sensors or moving.min() < 0 or batch.interval_s.min() <= 0
    )
    if bad:
        fwd, bwd = batch.forward, batch.backward
        known = (sidx >= 0) & (sidx < n_sensors)
        ok = known & (fwd.min(axis=1) >= 0) & (bwd.min(axis=1) >= 0)
        ok &= batch.interval_s > 0
        for j in (~ok).nonzero()[0].tolist():
            why = "unknown sensor" if not known[j] else "negative count or interval"
            events.append(ev.rejected(now, batch.sensors[j], why))
        sidx, mean = sidx[ok], mean[ok]
        moving = np.concatenate((fwd[ok], bwd[ok]))
        k = len(sidx)
    per_row = moving.sum(axis=1, dtype=np.float64)  # rows: k forward, then k backward
    per_report = per_row[:k] + per_row[k:]
    traffic.counted(now, sidx, per_report)
    rows = per_row.nonzero()[0]
    if not len(rows):
        return
    at = rows % k
    presence.counted(now, sidx[at], rows < k, moving[rows], mean[at], per_report[at] == 1)
