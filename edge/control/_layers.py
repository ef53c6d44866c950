"""Set / Max / Min layers (profiles and overrides) over a target array, by lamp selection."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["Selection", "apply_op", "op_scalar"]

#: Which lamps a layer touches: None for all, a slice for a cluster, an index array for lamps.
Selection = slice | npt.NDArray[np.intp] | None


def op_scalar(op: str, value: float, level: float) -> float:
    """The layer operation on one value (used by explain and the reference)."""
    if op == "set":
        return level
    if op == "max":
        return max(value, level)
    return min(value, level)


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
