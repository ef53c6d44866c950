"""Traffic flow per sensor over a rolling window of time bins, and flow -> class steps."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["FlowWindow", "class_steps"]


class FlowWindow:
    """Counts per sensor in ``bins`` time bins covering ``window_s``; pure (time passed in)."""

    def __init__(self, *, sensors: int, window_s: float, bins: int, start: float) -> None:
        self.window_s = float(window_s)
        self.bins = int(bins)
        self.bin_s = self.window_s / self.bins
        self.counts = np.zeros((sensors, self.bins), dtype=np.float64)
        self.totals = np.zeros(sensors, dtype=np.float64)
        self._bin = int(start // self.bin_s)
        self.start = start

    def advance(self, now: float) -> None:
        """Move to the bin containing ``now``, clearing the bins that fell out of the window."""
        current = int(now // self.bin_s)
        passed = current - self._bin
        if passed <= 0:
            return
        if passed >= self.bins:
            self.counts[:] = 0.0
            self.totals[:] = 0.0
        else:
            cols = [(self._bin + k) % self.bins for k in range(1, passed + 1)]
            self.counts[:, cols] = 0.0
            # Recompute rather than subtract: no float drift over years of ticks.
            self.counts.sum(axis=1, out=self.totals)
        self._bin = current

    def add(self, sensor: int, count: float) -> None:
        self.counts[sensor, self._bin % self.bins] += count
        self.totals[sensor] += count

    def add_many(self, sensors: npt.NDArray[np.intp], counts: npt.NDArray[np.float64]) -> None:
        """Add counts for many sensors at once (a sensor may appear more than once)."""
        np.add.at(self.counts[:, self._bin % self.bins], sensors, counts)
        np.add.at(self.totals, sensors, counts)

    def effective_window(self, now: float) -> float:
        """Seconds the bins cover: the full bins plus the running one (at least one bin)."""
        return max((self.bins - 1) * self.bin_s + (now - self._bin * self.bin_s), self.bin_s)

    def warm(self, now: float) -> bool:
        """Whether a whole window has been observed since the start."""
        return now - self.start >= self.window_s

    def flows_per_h(self, now: float) -> npt.NDArray[np.float64]:
        """Road users per hour at each sensor over the rolling window."""
        window = self.effective_window(now)
        flows: npt.NDArray[np.float64] = self.totals * (3600.0 / window)
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
