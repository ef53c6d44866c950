"""Set / Max / Min layers (profiles and overrides) over a target array, by lamp selection."""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt

from edge.control._inputs import Override, Profile

__all__ = ["Layers", "Selection", "apply_op", "op_scalar", "tiled_selection"]

#: Which lamps a layer touches: None for all, a slice for a cluster, an index array for lamps.
Selection = slice | npt.NDArray[np.intp] | None


def op_scalar(op: str, value: float, level: float) -> float:
    """The layer operation on one value (used by explain and the reference)."""
    if op == "set":
        return level
    if op == "max":
        return max(value, level)
    return min(value, level)


def tiled_selection(sel: Selection, n: int, lamps: int) -> Selection:
    """A selection of a street's ``lamps`` lamps, in each of ``n`` replicas of it side by
    side (``SiteSpec.tiled``)."""
    if n == 1 or sel is None:
        return sel
    if isinstance(sel, slice):
        sel = np.arange(sel.start, sel.stop, dtype=np.intp)
    out: npt.NDArray[np.intp] = (sel[None, :] + lamps * np.arange(n)[:, None]).ravel()
    return out


def apply_op(target: npt.NDArray[np.float64], sel: Selection, op: str, level: float) -> None:
    """Apply ``op`` at ``level`` to the selected lamps of ``target``, in place."""
    if sel is None or isinstance(sel, slice):
        view = target if sel is None else target[sel]
        if op == "set":
            view[...] = level
        elif op == "max":
            np.maximum(view, level, out=view)
        else:
            np.minimum(view, level, out=view)
        return
    if op == "set":
        target[sel] = level
    elif op == "max":
        target[sel] = np.maximum(target[sel], level)
    else:
        target[sel] = np.minimum(target[sel], level)


class Layers:
    """The profiles and overrides over a street's lamps, which profiles are active, and the
    night floor they leave (``floor_eff``: the lamps' floors, 0 where an allow-dark Set or
    Min override is; ``floor_cmd``: the same times CLO, in command terms)."""

    def __init__(
        self,
        *,
        floor: npt.NDArray[np.float64],
        clo: npt.NDArray[np.float64],
        cluster: npt.NDArray[np.intp],
        profiles: list[tuple[Profile, Selection]],
    ) -> None:
        self.profiles = profiles
        self.overrides: dict[str, tuple[Override, Selection]] = {}
        self.active: list[Profile] = []  # active on some cluster
        # the active profiles, each on the lamps of its selection whose cluster it is active on
        self.applied: list[tuple[Profile, Selection]] = []
        self._cluster = cluster
        self._floor, self._clo = floor, clo
        self.floor_eff = floor.copy()
        self.floor_cmd = floor * clo

    def __bool__(self) -> bool:
        """Whether any layer applies now (an active profile or any override)."""
        return bool(self.active or self.overrides)

    def activate(
        self,
        night: npt.NDArray[np.bool_],
        minute: npt.NDArray[np.intp],
        weekday: npt.NDArray[np.intp],
    ) -> None:
        """The profiles active at each cluster's minute of its local week (none by day)."""
        self.active, self.applied = [], []
        for profile, sel in self.profiles:
            on = profile.active_at(minute, weekday) & night
            if not on.any():
                continue
            self.active.append(profile)
            if not on.all():
                lamps = sel if isinstance(sel, np.ndarray) else np.arange(len(self._cluster))
                if isinstance(sel, slice):
                    lamps = lamps[sel]
                sel = lamps[on[self._cluster[lamps]]]
            self.applied.append((profile, sel))

    def add(self, override: Override, sel: Selection) -> None:
        """Add (or replace, by id) an override on the selected lamps."""
        self.overrides[override.id] = (override, sel)
        self._refresh_floor()

    def shift(self, delta: float) -> None:
        """The clock moved by ``delta``: each override keeps the time it had left."""
        self.overrides = {
            key: (dataclasses.replace(o, expires_at=o.expires_at + delta), sel)
            for key, (o, sel) in self.overrides.items()
        }

    def clear(self, key: str) -> list[Override]:
        """Remove overrides by id, or every override on a target; returns what was removed."""
        return self._remove([o for o, _ in self.overrides.values() if key in (o.id, o.target)])

    def expire(self, now: float) -> list[Override]:
        """Remove the overrides that have expired at ``now``; returns them."""
        return self._remove([o for o, _ in self.overrides.values() if o.expires_at <= now])

    def _remove(self, gone: list[Override]) -> list[Override]:
        for o in gone:
            del self.overrides[o.id]
        if gone:
            self._refresh_floor()
        return gone

    def _refresh_floor(self) -> None:
        np.copyto(self.floor_eff, self._floor)
        for o, sel in self.overrides.values():
            if o.allow_dark and o.op in ("set", "min"):
                apply_op(self.floor_eff, sel, "min", 0.0)
        np.multiply(self.floor_eff, self._clo, out=self.floor_cmd)

    def apply_profiles(self, target: npt.NDArray[np.float64]) -> None:
        """The active profiles, in their configured order, on ``target`` in place."""
        for profile, sel in self.applied:
            apply_op(target, sel, profile.op, profile.level)

    def apply_overrides(self, target: npt.NDArray[np.float64]) -> None:
        """Every override, in the order added, on ``target`` in place."""
        for o, sel in self.overrides.values():
            apply_op(target, sel, o.op, o.level)
