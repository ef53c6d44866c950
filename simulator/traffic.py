"""Road users: generated (non-homogeneous Poisson by time of day) or replayed from a CSV trace.

A road user of a kind enters a cluster's road at one end (position 0 travelling +1, or the
road's length travelling -1) and moves at constant speed until it leaves the other end.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from edge.config import SiteConfig
from edge.errors import StreetlightError

__all__ = [
    "DEFAULT_PROFILE",
    "KINDS",
    "Arrivals",
    "TraceError",
    "generate_arrivals",
    "read_trace",
]

KINDS = ("car", "bike", "pedestrian")

#: Relative traffic by local hour (0..23): evening peak, night trough, early-morning rise.
DEFAULT_PROFILE: tuple[float, ...] = (
    0.22,
    0.12,
    0.07,
    0.05,
    0.06,
    0.14,
    0.42,
    0.85,
    1.00,
    0.72,
    0.60,
    0.64,
    0.68,
    0.66,
    0.68,
    0.78,
    0.92,
    1.00,
    0.88,
    0.68,
    0.52,
    0.42,
    0.36,
    0.28,
)

#: Share of each kind by road type; peak-hour flow as a fraction of capacity.
_MIX = {
    "arterial": (0.86, 0.10, 0.04),
    "collector": (0.75, 0.15, 0.10),
    "residential": (0.45, 0.25, 0.30),
    "cycle": (0.0, 0.70, 0.30),
    "": (0.6, 0.2, 0.2),
}
PEAK_FRACTION = 0.22


class TraceError(StreetlightError):
    """A trace CSV that cannot be replayed; names the line."""

    exit_code = 2

    def __init__(self, source: str, line: int, message: str) -> None:
        self.source, self.line = source, line
        super().__init__(f"{source}, line {line}: {message}")


@dataclass(frozen=True, slots=True)
class Arrivals:
    """Road users entering, sorted by time: seconds after the start, cluster index, kind
    index (KINDS), direction (+1/-1), speed (m/s)."""

    t_s: npt.NDArray[np.float64]
    cluster: npt.NDArray[np.intp]
    kind: npt.NDArray[np.intp]
    direction: npt.NDArray[np.intp]
    speed_mps: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.t_s)

    @classmethod
    def build(cls, t, cluster, kind, direction, speed) -> Arrivals:  # type: ignore[no-untyped-def]
        order = np.argsort(np.asarray(t, dtype=np.float64), kind="stable")
        return cls(
            t_s=np.asarray(t, dtype=np.float64)[order],
            cluster=np.asarray(cluster, dtype=np.intp)[order],
            kind=np.asarray(kind, dtype=np.intp)[order],
            direction=np.asarray(direction, dtype=np.intp)[order],
            speed_mps=np.asarray(speed, dtype=np.float64)[order],
        )


def _speeds(
    rng: np.random.Generator, kind: npt.NDArray[np.intp], limit_mps: float
) -> npt.NDArray[np.float64]:
    mean = np.array([0.92 * limit_mps, 5.5, 1.4])[kind]
    sd = np.array([0.10 * limit_mps, 1.2, 0.25])[kind]
    speeds: npt.NDArray[np.float64] = np.clip(rng.normal(mean, sd), 0.5, 1.4 * max(limit_mps, 1.5))
    return speeds


def generate_arrivals(
    site: SiteConfig,
    *,
    start: float,
    duration_s: float,
    seed: int,
    scale: float = 1.0,
    cluster_scale: dict[str, float] | None = None,
    profile: tuple[float, ...] = DEFAULT_PROFILE,
) -> Arrivals:
    """Arrivals at both ends of every cluster by thinning a Poisson process; reproducible."""
    rng = np.random.default_rng(seed)
    tz = ZoneInfo(site.site.timezone)
    hours = np.asarray(profile, dtype=np.float64)
    parts: list[tuple[np.ndarray, ...]] = []
    for k, cl in enumerate(site.clusters):
        mult = scale * (cluster_scale or {}).get(cl.id, 1.0)
        peak = cl.capacity_per_h * PEAK_FRACTION * mult / 3600.0  # users per second at peak
        if peak <= 0:
            continue
        lam_max = peak * hours.max()
        n = rng.poisson(lam_max * duration_s)
        t = np.sort(rng.uniform(0.0, duration_s, n))
        local_hour = _local_hours(start, t, tz)
        keep = rng.uniform(0.0, 1.0, n) < hours[local_hour] / hours.max()
        t = t[keep]
        m = len(t)
        mix = np.asarray(_MIX.get(cl.road_type, _MIX[""]))
        kind = rng.choice(3, size=m, p=mix / mix.sum())
        direction = (
            np.where(rng.uniform(size=m) < 0.5, 1, -1) if cl.two_way else np.ones(m, dtype=np.intp)
        )
        speed = _speeds(rng, kind, cl.speed_limit_kmh / 3.6)
        parts.append((t, np.full(m, k), kind, direction, speed))
    if not parts:
        return Arrivals.build([], [], [], [], [])
    cols = [np.concatenate([p[i] for p in parts]) for i in range(5)]
    return Arrivals.build(*cols)


def _local_hours(start: float, t: np.ndarray, tz: ZoneInfo) -> npt.NDArray[np.intp]:
    """Local hour of each time (the UTC offset of the start; a DST change mid-night shifts
    the profile by an hour for the rest of that night, which is within its own noise)."""
    offset = datetime.fromtimestamp(start, tz).utcoffset()
    off_s = offset.total_seconds() if offset is not None else 0.0
    hours: npt.NDArray[np.intp] = (((start + t + off_s) // 3600) % 24).astype(np.intp)
    return hours


TRACE_COLUMNS = ["t_s", "cluster", "kind", "direction", "speed_mps"]


def read_trace(path: str | Path, site: SiteConfig) -> Arrivals:
    """Replay a CSV of arrivals; columns exactly ``t_s,cluster,kind,direction,speed_mps``."""
    source = str(path)
    clusters = {c.id: i for i, c in enumerate(site.clusters)}
    cols: list[list[float | int]] = [[], [], [], [], []]
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(source, 0, f"cannot read: {exc}") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != TRACE_COLUMNS:
        raise TraceError(
            source, 1, f"header must be exactly {','.join(TRACE_COLUMNS)}, got {header}"
        )
    for line_no, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 5:
            raise TraceError(source, line_no, f"expected 5 columns, got {len(row)}")
        t_s, cluster, kind, direction, speed = (c.strip() for c in row)
        try:
            t = float(t_s)
        except ValueError:
            raise TraceError(source, line_no, f"t_s {t_s!r} is not a number") from None
        if not t >= 0 or t != t:
            raise TraceError(source, line_no, f"t_s {t_s} must be >= 0")
        if cluster not in clusters:
            raise TraceError(
                source, line_no, f"unknown cluster {cluster!r} (site has {', '.join(clusters)})"
            )
        if kind not in KINDS:
            raise TraceError(source, line_no, f"kind {kind!r} is not one of {', '.join(KINDS)}")
        if direction not in ("1", "+1", "-1"):
            raise TraceError(source, line_no, f"direction {direction!r} must be +1 or -1")
        try:
            v = float(speed)
        except ValueError:
            raise TraceError(source, line_no, f"speed_mps {speed!r} is not a number") from None
        if not 0 < v < 100:
            raise TraceError(source, line_no, f"speed_mps {speed} must be in (0, 100)")
        for store, value in zip(
            cols, (t, clusters[cluster], KINDS.index(kind), int(direction), v), strict=True
        ):
            store.append(value)
    return Arrivals.build(*cols)
