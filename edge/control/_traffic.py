"""Traffic flow per sensor over a rolling window of time bins, and flow -> class steps."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["FlowWindow", "class_steps"]


class FlowWindow:
    """Counts per sensor in ``bins`` time bins covering ``window_s``, counted from ``start``
    (not the epoch: the bins fall alike whenever a controller starts); pure (time passed in)."""

    def __init__(self, *, sensors: int, window_s: float, bins: int, start: float) -> None:
        self.window_s = float(window_s)
        self.bins = int(bins)
        self.bin_s = self.window_s / self.bins
        self.counts = np.zeros((sensors, self.bins), dtype=np.float64)
        self.totals = np.zeros(sensors, dtype=np.float64)
        self._bin = 0
        self.start = start

    def advance(self, now: float) -> bool:
        """Move to the bin containing ``now``, clearing the bins that fell out of the window;
        True when the bins moved (the flows changed)."""
        current = int((now - self.start) // self.bin_s)
        passed = current - self._bin
        if passed <= 0:
            return False
        if passed >= self.bins:
            self.counts[:] = 0.0
            self.totals[:] = 0.0
        else:
            cols = [(self._bin + k) % self.bins for k in range(1, passed + 1)]
            self.counts[:, cols] = 0.0
            # Recompute rather than subtract: no float drift over years of ticks.
            self.counts.sum(axis=1, out=self.totals)
        self._bin = current
        return True

    def restart(self, now: float) -> None:
        """Start afresh at ``now`` (the clock stepped: the bins no longer line up with it);
        until a whole window has been observed again the rated class holds."""
        self.counts[:] = 0.0
        self.totals[:] = 0.0
        self._bin = 0
        self.start = now

    def add(self, sensor: int, count: float) -> None:
        self.counts[sensor, self._bin % self.bins] += count
        self.totals[sensor] += count

    def add_many(self, sensors: npt.NDArray[np.intp], counts: npt.NDArray[np.float64]) -> None:
        """Add counts for many sensors at once (a sensor may appear more than once)."""
        np.add.at(self.counts[:, self._bin % self.bins], sensors, counts)
        np.add.at(self.totals, sensors, counts)

    def warm(self, now: float) -> bool:
        """Whether a whole window has been observed since the start."""
        return now - self.start >= self.window_s

    def flows_per_h(self) -> npt.NDArray[np.float64]:
        """Road users per hour at each sensor: the counts in the window's bins (the running
        one included) over the window's length. Changes only with counts and bin moves."""
        flows: npt.NDArray[np.float64] = self.totals * (3600.0 / self.window_s)
        return flows


def class_steps(
    ratio: npt.NDArray[np.float64],
    thresholds: npt.NDArray[np.float64],
    ladder_len: npt.NDArray[np.intp],
) -> npt.NDArray[np.intp]:
    """Steps below the rated class: how many thresholds the flow/capacity ratio is under.

    Capped at each cluster's ladder (the classes it may adapt down to).
    """
    # thresholds descend: the count of those above the ratio is a search in the reversed list
    above = len(thresholds) - np.searchsorted(thresholds[::-1], ratio, side="right")
    capped: npt.NDArray[np.intp] = np.minimum(above, ladder_len - 1)
    return capped
