"""The road users on the roads: who came on, where each one is, who is lingering."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.traffic import Arrivals

__all__ = ["Moves", "RoadUsers"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Moves:
    """This tick's moves, for the sensors: each road user went from ``prev`` (at ``since``,
    seconds after the start) to ``new``."""

    users: IntArray
    since: FloatArray
    prev: FloatArray
    new: FloatArray


class RoadUsers:
    """Road users of ``arrivals`` on roads of ``lengths``, moved tick by tick: they come on
    at their time, move at their speed (a lingering one waits where it stopped), and leave
    past either end."""

    def __init__(self, arrivals: Arrivals, lengths: FloatArray) -> None:
        self.arrivals = arrivals
        self.lengths = lengths
        self.active = np.zeros(0, dtype=np.intp)  # user ids on the road, in arrival order
        self.pos = np.zeros(0)
        self._travelled = np.zeros(0)
        self._still_until = np.zeros(0)  # lingering until (s after the start)
        self._linger_at = np.zeros(0)  # metres to travel before lingering (inf: never, done)
        self._next = 0

    @property
    def cluster(self) -> IntArray:
        return self.arrivals.cluster[self.active]

    @property
    def entered(self) -> int:
        """How many road users have come on so far."""
        return self._next

    def advance(self, rel: float, dt: float) -> Moves:
        """Move everyone on to ``rel`` seconds after the start (``dt`` after the last call):
        the ones on the road, then the ones that came on during the tick (from their entry
        point, for the part of the tick since they came). Whoever left is gone after."""
        a = self.arrivals
        old = self._move(rel, np.full(len(self.active), rel - dt))
        stop = int(a.t_s.searchsorted(rel, side="right"))
        if stop == self._next:  # nobody came on this tick (most ticks of a night)
            moves = Moves(users=old.users.copy(), since=old.since, prev=old.prev,
                          new=old.new.copy())  # fmt: skip
            self._leave()
            return moves
        new = np.arange(self._next, stop)
        self._next = stop
        length = self.lengths[a.cluster[new]]
        entry = np.where(np.isnan(a.entry_m[new]), np.where(a.direction[new] > 0, 0.0, length),
                         a.entry_m[new])  # fmt: skip
        # from just outside the end it comes from, so a sensor on the very end counts it
        outside = np.where(a.direction[new] > 0, -1e-9, length + 1e-9)
        start = np.where(np.isnan(a.entry_m[new]), outside, entry)
        self.active = np.concatenate((self.active, new))
        self.pos = np.concatenate((self.pos, entry))
        self._travelled = np.concatenate((self._travelled, np.zeros(len(new))))
        self._still_until = np.concatenate((self._still_until, np.zeros(len(new))))
        self._linger_at = np.concatenate((self._linger_at, a.linger_after_m[new]))
        k = len(old.users)
        tail = self._move(rel, a.t_s[new], first=k)
        moves = Moves(
            users=self.active.copy(),
            since=np.concatenate((old.since, tail.since)),
            prev=np.concatenate((old.prev, start)),
            new=self.pos.copy(),
        )
        self._leave()
        return moves

    def _leave(self) -> None:
        """Whoever is past either end of its road has left it."""
        on_road = (self.pos >= 0.0) & (self.pos <= self.lengths[self.cluster])
        if not on_road.all():
            self._keep(on_road)

    def _move(self, rel: float, since: FloatArray, first: int = 0) -> Moves:
        """Move users ``first:`` on from ``since`` to ``rel`` (in place)."""
        sl = slice(first, None)
        users = self.active[sl]
        a = self.arrivals
        prev = self.pos[sl].copy()
        begin = np.maximum(since, self._still_until[sl])  # a lingering one starts again then
        step = a.speed_mps[users] * np.maximum(rel - begin, 0.0)
        left = self._linger_at[sl] - self._travelled[sl]
        stops = step >= left  # reaches its lingering spot in this move
        if stops.any():
            step = np.where(stops, np.maximum(left, 0.0), step)
            idx = stops.nonzero()[0] + first
            reach = begin[stops] + np.maximum(left[stops], 0.0) / a.speed_mps[users[stops]]
            self._still_until[idx] = reach + a.linger_s[users[stops]]
            self._linger_at[idx] = np.inf
        self.pos[sl] = prev + a.direction[users] * step
        self._travelled[sl] += step
        return Moves(users=users, since=since, prev=prev, new=self.pos[sl])

    def _keep(self, mask: npt.NDArray[np.bool_]) -> None:
        self.active = self.active[mask]
        self.pos = self.pos[mask]
        self._travelled = self._travelled[mask]
        self._still_until = self._still_until[mask]
        self._linger_at = self._linger_at[mask]
