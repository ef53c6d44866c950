"""Setpoint leases: which lamps' setpoints go out this tick, and their sequence numbers."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["LeaseBook"]

_GOLDEN = 0.6180339887498949


class LeaseBook:
    """Per lamp: the level last sent and when its lease is next refreshed; one sequence
    number per step.

    Refreshes are staggered per lamp (golden-ratio phase over the last 20 % of
    ``refresh_s``) so they do not come in bursts; with replicas of a street side by side,
    by the lamp's place in its replica (``per_replica`` lamps each). Every lease a step
    sends carries that step's seq, one more than the last step's: a lamp's leases are
    strictly increasing, and no per-lamp counter is kept for them.
    """

    def __init__(
        self, *, n: int, refresh_s: float, deadband: float, seq_base: int,
        per_replica: int | None = None,
    ) -> None:  # fmt: skip
        self.deadband = deadband
        self.last_sent = np.full(n, np.nan)
        self.next_refresh = np.full(n, -math.inf)
        phase = ((np.arange(n) % max(per_replica or n, 1)) * _GOLDEN) % 1.0
        self._refresh_every = refresh_s * (1.0 - 0.2 * phase)
        self.seq_base = seq_base  # every lease of this book has a seq above it
        self.step_seq = seq_base  # the seq of the last step's leases
        self._due = np.empty(n, dtype=bool)
        self._forced: list[npt.NDArray[np.intp]] = []
        self._force_all = False

    @property
    def last_sent_at(self) -> npt.NDArray[np.float64]:
        """When each lamp's lease last went out (-inf: never), to a rounding of its refresh
        interval (the book keeps only when the next is due)."""
        at: npt.NDArray[np.float64] = self.next_refresh - self._refresh_every
        return at

    def shift(self, delta: float) -> None:
        """The clock moved by ``delta`` under the book: refreshes stay as far off as they were."""
        self.next_refresh += delta

    def force(self, lamps: npt.NDArray[np.intp]) -> None:
        """Send these lamps' leases at the next step, whatever their level."""
        self._forced.append(np.asarray(lamps, dtype=np.intp))

    def force_all(self) -> None:
        """Send every lamp's lease at the next step."""
        self._force_all = True

    def due(
        self,
        now: float,
        changed: npt.NDArray[np.intp],
        new_levels: npt.NDArray[np.float64],
        level: npt.NDArray[np.float64],
        target: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.intp]:
        """Lamps whose setpoint must go out, marked sent: lease due or forced, or (of the
        ``changed``, now at ``new_levels``) moved past the deadband or settled at the target.
        Those going up above what they were last sent come first, then the rest, each in lamp
        order: a rise never waits behind a batch of refreshes."""
        due = self._due
        if self._force_all:
            due.fill(True)
            self._force_all = False
        else:
            np.less_equal(self.next_refresh, now, out=due)
        if self._forced:
            due[np.concatenate(self._forced)] = True
            self._forced = []
        if len(changed):
            new, sent = new_levels, self.last_sent.take(changed)
            # moved past the deadband (a move past a positive one is a change; never sent:
            # NaN, and due already)
            go = np.abs(new - sent) >= self.deadband if self.deadband > 0 else new != sent
            # settled: at the target, and not what was last sent
            go |= (new == target.take(changed)) > (new == sent)
            due[changed.compress(go)] = True  # compress: several times faster on a mixed mask
        send = due.nonzero()[0]
        up = level[send] > self.last_sent[send]  # never sent (NaN): not a rise
        if 0 < np.count_nonzero(up) < len(send):
            send = np.concatenate((send[up], send[~up]))
        self.step_seq += 1
        self.last_sent[send] = level[send]
        self.next_refresh[send] = now + self._refresh_every[send]
        return send
