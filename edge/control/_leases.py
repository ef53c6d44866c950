"""Setpoint leases: which lamps' setpoints go out this tick, and their sequence numbers."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["LeaseBook"]

_GOLDEN = 0.6180339887498949


class LeaseBook:
    """Per lamp: the level last sent, when, when its lease is next refreshed, and its seq.

    Refreshes are staggered per lamp (golden-ratio phase over the last 20 % of
    ``refresh_s``) so they do not come in bursts.
    """

    def __init__(self, *, n: int, refresh_s: float, deadband: float, seq_base: int) -> None:
        self.deadband = deadband
        self.last_sent = np.full(n, np.nan)
        self.last_sent_at = np.full(n, -math.inf)
        self.next_refresh = np.full(n, -math.inf)
        phase = (np.arange(n) * _GOLDEN) % 1.0
        self._refresh_every = refresh_s * (1.0 - 0.2 * phase)
        self.seq = np.full(n, seq_base, dtype=np.int64)
        self._due = np.empty(n, dtype=bool)

    def force(self, lamps: npt.NDArray[np.intp] | slice) -> None:
        """Send these lamps' leases at the next step, whatever their level."""
        self.next_refresh[lamps] = -math.inf

    def due(
        self,
        now: float,
        changed: npt.NDArray[np.intp],
        level: npt.NDArray[np.float64],
        target: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.intp]:
        """Lamps whose setpoint must go out, marked sent: lease due, or (of the ``changed``)
        moved past the deadband or settled at the target. The due ones first (in lamp
        order), then the others."""
        due = self._due
        np.less_equal(self.next_refresh, now, out=due)
        send = due.nonzero()[0]  # sparse: a cheaper scan than one over every reason at once
        if len(changed):
            new, sent = level[changed], self.last_sent[changed]
            fresh = new != sent
            moved = (np.abs(new - sent) >= self.deadband) & fresh
            settled = (new == target[changed]) & fresh
            extra = changed[moved | settled]
            extra = extra[~due[extra]]
            if len(extra):
                send = np.concatenate((send, extra))
        self.last_sent[send] = level[send]
        self.last_sent_at[send] = now
        self.next_refresh[send] = now + self._refresh_every[send]
        self.seq[send] += 1
        return send
