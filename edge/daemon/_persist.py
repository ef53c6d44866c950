"""What the daemon keeps on disk between runs: the lease seq reserve, energy and meter totals,
the hourly energy history, the overrides; and what opening its stores took."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

from edge.config import SiteConfig
from edge.control import DimmingController, Override
from edge.daemon._publish import EnergyTotals, meter_readings
from edge.metrics import Metrics
from edge.outbox import Outbox
from edge.state import StateStore

__all__ = [
    "SEQ_MARGIN",
    "checkpoint",
    "save_overrides",
    "saved_overrides",
    "seq_base",
    "store_problems",
]

#: Lease seqs reserved ahead of the checkpoint, so a crash never reuses one a node has seen.
SEQ_MARGIN = 1_000_000


def seq_base(state: StateStore) -> int:
    """Where this run's lease seqs start: past every seq a node may have seen (the reserve
    checkpointed last, or the wall clock in ms, whichever is later), with a new reserve."""
    stored = int(state.get("lease_seq_next", 0) or 0)
    base = max(stored, int(time.time() * 1000))
    state.put(lease_seq_next=base + SEQ_MARGIN)
    return base


def checkpoint(
    state: StateStore, site: SiteConfig, ctrl: DimmingController, energy: EnergyTotals,
    now: float,
) -> None:  # fmt: skip
    """Energy and meter totals and the seq reserve now; an energy history row each
    ``energy.history_s``."""
    stored = int(state.get("lease_seq_next", 0) or 0)
    totals = energy.as_dict()
    state.put(
        energy=totals,
        meters=meter_readings(ctrl),
        lease_seq_next=max(ctrl.lease_seq + SEQ_MARGIN, stored),
    )
    e = site.energy
    last = state.last_energy_time()
    if last is None or now // e.history_s > last // e.history_s or now < last:
        state.record_energy(now, totals, keep_s=e.history_keep_days * 86400)


def save_overrides(state: StateStore, ctrl: DimmingController) -> None:
    """The overrides outlive a restart (expired ones are dropped on load)."""
    state.put(overrides=[dataclasses.asdict(o) for o in ctrl.overrides])


def saved_overrides(state: StateStore, now: float) -> Iterator[Override]:
    """The overrides saved last that have not expired by ``now``."""
    for saved in state.get("overrides", []) or []:
        with contextlib.suppress(Exception):  # a record from another version: dropped
            override = Override(**saved)
            if override.expires_at > now:
                yield override


def store_problems(state: StateStore, outbox: Outbox, metrics: Metrics) -> Iterator[dict[str, Any]]:
    """The events for what opening the state and the outbox took: a damaged file moved aside
    (and what was restored), a directory that cannot be used (no persistence)."""
    for name, store in (("state", state), ("outbox", outbox)):
        opened = store.opened
        metrics.store_persistent.labels(name).set(float(opened.persistent))
        if not opened.problem:
            continue
        metrics.store_problems.labels(name, opened.problem).inc()
        data: dict[str, Any] = {"path": str(store.path), "detail": opened.detail}
        if opened.problem == "damaged":
            data["moved_to"] = str(opened.moved_to)
            kept = ""
            if name == "state":
                data["restored_keys"] = state.restored
                kept = f"; {state.restored} values restored from {state.mirror}"
            message = (f"{name} store {store.path} was damaged ({opened.detail}): moved "
                       f"aside to {opened.moved_to}, started afresh{kept}")  # fmt: skip
            severity = "warning"
        else:
            message = (f"{name} store {store.path} cannot be used ({opened.detail}): "
                       "lamp control runs, without persistence")  # fmt: skip
            severity = "critical"
        yield {"kind": f"store_{opened.problem}", "subject": name, "severity": severity,
               "message": message, "data": data}  # fmt: skip
