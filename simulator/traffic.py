"""Road users: generated (a published time-of-day shape, by weekday and season) or replayed
from a CSV trace.

A road user of a kind enters a cluster's road at one end (position 0 travelling +1, or the
road's length travelling -1) or, on roads with side streets and driveways, somewhere along
it, and moves at constant speed until it leaves the road; a pedestrian may stop a while on
the way (lingering).
"""

from __future__ import annotations

import csv
import dataclasses
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from edge.config import SiteConfig
from edge.errors import StreetlightError

__all__ = [
    "KINDS",
    "NT3_SATURDAY",
    "NT3_WEDNESDAY",
    "Arrivals",
    "TraceError",
    "TrafficModel",
    "generate_arrivals",
    "hourly_weight",
    "read_trace",
]

IntArray = npt.NDArray[np.intp]

KINDS = ("car", "bike", "pedestrian")

#: Vehicle trips by the local hour they started (0..23), from FHWA Highway Statistics 2006,
#: table NT-3 "Number of Vehicle Trips by Time of Day" (base: the 2001 National Household
#: Travel Survey): a Wednesday and a Saturday. The shape of a day, not its volume.
NT3_WEDNESDAY = (147, 82, 83, 36, 249, 639, 1607, 3893, 2994, 2294, 2600, 2967,
                 3166, 3032, 3321, 3888, 3959, 4377, 3746, 2819, 2061, 1559, 783, 381)  # fmt: skip
NT3_SATURDAY = (432, 185, 117, 62, 185, 270, 558, 1147, 2088, 2951, 4096, 4420,
                4561, 4088, 4256, 4037, 3823, 3536, 3626, 2665, 2206, 1925, 1069, 772)  # fmt: skip

#: Share of each kind by road type.
_MIX = {
    "arterial": (0.86, 0.10, 0.04),
    "collector": (0.75, 0.15, 0.10),
    "residential": (0.45, 0.25, 0.30),
    "cycle": (0.0, 0.70, 0.30),
    "": (0.6, 0.2, 0.2),
}
#: The busiest weekday hour's flow as a fraction of the road's capacity.
PEAK_FRACTION = 0.22
#: Seasonal swing per kind around the annual mean, highest in mid-July (day 196): motor
#: traffic varies little over the year, walking and cycling much more (an assumption, not a
#: published table: docs/policy.md).
SEASON_AMPLITUDE = (0.05, 0.25, 0.25)
_SEASON_PEAK_DAY = 196


@dataclass(frozen=True, slots=True, kw_only=True)
class TrafficModel:
    """How a night's road users are drawn. ``profile``: 24 hourly weights (1.0 = the
    weekday peak) for every day, or None for the NT-3 weekday (Monday to Friday) and
    Saturday (Saturday and Sunday) shapes. ``mid_road`` by road type: the share of road
    users that come on mid-road (side streets, driveways). ``linger_share`` of pedestrians
    stop once, for ``linger_s`` seconds (uniform)."""

    scale: float = 1.0
    cluster_scale: dict[str, float] = field(default_factory=dict)
    profile: tuple[float, ...] | None = None
    season: bool = True
    mid_road: dict[str, float] = field(default_factory=lambda: {"residential": 0.10, "cycle": 0.05})
    linger_share: float = 0.2
    linger_s: tuple[float, float] = (10.0, 120.0)

    @classmethod
    def simple(cls) -> TrafficModel:
        """Everyone enters at a road end and keeps walking (unit tests)."""
        return cls(mid_road={}, linger_share=0.0)


@dataclass(frozen=True, slots=True)
class Arrivals:
    """Road users entering, sorted by time: seconds after the start, cluster index, kind
    index (KINDS), direction (+1/-1), speed (m/s), where it comes on (m along the road; NaN:
    the end its direction starts from), and how far it travels before lingering (inf:
    never) and for how long (s)."""

    t_s: npt.NDArray[np.float64]
    cluster: npt.NDArray[np.intp]
    kind: npt.NDArray[np.intp]
    direction: npt.NDArray[np.intp]
    speed_mps: npt.NDArray[np.float64]
    entry_m: npt.NDArray[np.float64]
    linger_after_m: npt.NDArray[np.float64]
    linger_s: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.t_s)

    @classmethod
    def build(  # type: ignore[no-untyped-def]
        cls, t, cluster, kind, direction, speed, entry=None, linger_after=None, linger_s=None
    ) -> Arrivals:
        t_arr = np.asarray(t, dtype=np.float64)
        n = len(t_arr)
        order = np.argsort(t_arr, kind="stable")

        def col(values: object, dtype: type, default: float) -> np.ndarray:
            out = np.full(n, default) if values is None else np.asarray(values, dtype=dtype)
            return out.astype(dtype)[order]

        return cls(
            t_s=t_arr[order],
            cluster=col(cluster, np.intp, 0),
            kind=col(kind, np.intp, 0),
            direction=col(direction, np.intp, 1),
            speed_mps=col(speed, np.float64, 1.0),
            entry_m=col(entry, np.float64, math.nan),
            linger_after_m=col(linger_after, np.float64, math.inf),
            linger_s=col(linger_s, np.float64, 0.0),
        )

    @classmethod
    def side_by_side(cls, nights: list[Arrivals], clusters: int) -> tuple[Arrivals, IntArray]:
        """Several nights' road users as one night of their sites side by side (night r's
        cluster k is cluster r x ``clusters`` + k), by time (each night's in its own order),
        and each one's number in its own night."""
        if len(nights) == 1:
            return nights[0], np.arange(len(nights[0]), dtype=np.intp)
        names = [f.name for f in dataclasses.fields(cls)]
        cols = {name: np.concatenate([getattr(a, name) for a in nights]) for name in names}
        cols["cluster"] = cols["cluster"] + np.repeat(
            np.arange(len(nights)) * clusters, [len(a) for a in nights]
        )
        key = np.concatenate([np.arange(len(a), dtype=np.intp) for a in nights])
        order = np.argsort(cols["t_s"], kind="stable")
        return cls(**{name: c[order] for name, c in cols.items()}), key[order]


class TraceError(StreetlightError):
    """A trace CSV that cannot be replayed; names the line."""

    exit_code = 2

    def __init__(self, source: str, line: int, message: str) -> None:
        self.source, self.line = source, line
        super().__init__(f"{source}, line {line}: {message}")


def _speeds(
    rng: np.random.Generator, kind: npt.NDArray[np.intp], limit_mps: float
) -> npt.NDArray[np.float64]:
    mean = np.array([0.92 * limit_mps, 5.5, 1.4])[kind]
    sd = np.array([0.10 * limit_mps, 1.2, 0.25])[kind]
    speeds: npt.NDArray[np.float64] = np.clip(rng.normal(mean, sd), 0.5, 1.4 * max(limit_mps, 1.5))
    return speeds


def hourly_weight(model: TrafficModel, local: datetime) -> npt.NDArray[np.float64]:
    """Per kind, the flow at this local time relative to the weekday peak (``PEAK_FRACTION``
    of capacity): the hour's share of the day's shape, times the season."""
    if model.profile is not None:
        shape = model.profile[local.hour]
    else:
        table = NT3_SATURDAY if local.weekday() >= 5 else NT3_WEDNESDAY
        shape = table[local.hour] / max(NT3_WEDNESDAY)
    weight = np.full(len(KINDS), float(shape))
    if model.season:
        day = local.timetuple().tm_yday
        weight *= 1.0 + np.asarray(SEASON_AMPLITUDE) * math.cos(
            2.0 * math.pi * (day - _SEASON_PEAK_DAY) / 365.25
        )
    return weight


def _local_hours(start: float, end: float, tz: ZoneInfo) -> list[tuple[float, float, datetime]]:
    """[a, b) spans of one local hour each (seconds after ``start``), with the local time of
    each span's start; DST changes give a 0.5 h or 2 h local day where they fall."""
    spans = []
    t = start
    while t < end:
        local = datetime.fromtimestamp(t, tz)
        into = local.minute * 60 + local.second + local.microsecond / 1e6
        nxt = min(end, t + 3600.0 - into)
        spans.append((t - start, nxt - start, local))
        t = nxt
    return spans


def generate_arrivals(
    site: SiteConfig,
    *,
    start: float,
    duration_s: float,
    seed: int,
    model: TrafficModel | None = None,
) -> Arrivals:
    """Road users of every cluster as Poisson arrivals whose rate follows ``model`` hour by
    local hour; reproducible from ``seed``."""
    model = model or TrafficModel()
    rng = np.random.default_rng(seed)
    tz = site.site.zone
    spans = _local_hours(start, start + duration_s, tz)
    weights = np.array([hourly_weight(model, local) for _, _, local in spans])  # (spans, kinds)
    lengths = np.array([b - a for a, b, _ in spans])
    parts: list[tuple[np.ndarray, ...]] = []
    for k, cl in enumerate(site.clusters):
        mult = model.scale * model.cluster_scale.get(cl.id, 1.0)
        peak = cl.capacity_per_h * PEAK_FRACTION * mult / 3600.0  # road users per second
        mix = np.asarray(_MIX.get(cl.road_type, _MIX[""]))
        mix = mix / mix.sum()
        rate = peak * weights * mix  # (spans, kinds) per second
        n = rng.poisson(rate * lengths[:, None])
        span_of = np.repeat(np.arange(len(spans)), n.sum(axis=1))
        kind = np.concatenate([np.repeat(np.arange(len(KINDS)), row) for row in n])
        t = (
            np.array([a for a, _, _ in spans])[span_of]
            + rng.uniform(size=len(span_of)) * (lengths[span_of])
        )
        m = len(t)
        direction = (
            np.where(rng.uniform(size=m) < 0.5, 1, -1) if cl.two_way else np.ones(m, dtype=np.intp)
        )
        speed = _speeds(rng, kind, cl.speed_limit_kmh / 3.6)
        mid = rng.uniform(size=m) < model.mid_road.get(cl.road_type, 0.0)
        entry = np.where(mid, rng.uniform(0.0, cl.length_m, m), np.nan)
        ahead = np.where(
            np.isnan(entry), cl.length_m, np.where(direction > 0, cl.length_m - entry, entry)
        )
        lingers = (kind == KINDS.index("pedestrian")) & (rng.uniform(size=m) < model.linger_share)
        after = np.where(lingers, rng.uniform(size=m) * ahead, np.inf)
        stay = np.where(lingers, rng.uniform(*model.linger_s, size=m), 0.0)
        parts.append((t, np.full(m, k), kind, direction, speed, entry, after, stay))
    if not parts:
        return Arrivals.build([], [], [], [], [])
    cols = [np.concatenate([p[i] for p in parts]) for i in range(8)]
    return Arrivals.build(*cols)


TRACE_COLUMNS = ["t_s", "cluster", "kind", "direction", "speed_mps"]
TRACE_OPTIONAL = ["entry_m", "linger_after_m", "linger_s"]


def read_trace(path: str | Path, site: SiteConfig) -> Arrivals:
    """Replay a CSV of arrivals: columns ``t_s,cluster,kind,direction,speed_mps``, then
    optionally ``entry_m`` (empty: the road's end), ``linger_after_m`` and ``linger_s``."""
    source = str(path)
    clusters = {c.id: i for i, c in enumerate(site.clusters)}
    lengths = [c.length_m for c in site.clusters]
    cols: list[list[float | int]] = [[] for _ in range(8)]
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(source, 0, f"cannot read: {exc}") from None
    reader = csv.reader(text.splitlines())
    header = [h.strip() for h in next(reader, None) or []]
    extra = header[len(TRACE_COLUMNS) :]
    if header[: len(TRACE_COLUMNS)] != TRACE_COLUMNS or extra != TRACE_OPTIONAL[: len(extra)]:
        raise TraceError(
            source,
            1,
            f"header must be {','.join(TRACE_COLUMNS)} (then optionally "
            f"{','.join(TRACE_OPTIONAL)}), got {header}",
        )
    for line_no, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise TraceError(source, line_no, f"expected {len(header)} columns, got {len(row)}")
        values = _trace_row(source, line_no, [c.strip() for c in row], clusters, lengths)
        for store, value in zip(cols, values, strict=True):
            store.append(value)
    return Arrivals.build(*cols)


def _number(source: str, line: int, name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise TraceError(source, line, f"{name} {text!r} is not a number") from None


def _trace_row(
    source: str, line: int, row: list[str], clusters: dict[str, int], lengths: list[float]
) -> tuple[float | int, ...]:
    t_s, cluster, kind, direction, speed, *rest = row
    t = _number(source, line, "t_s", t_s)
    if not t >= 0:
        raise TraceError(source, line, f"t_s {t_s} must be >= 0")
    if cluster not in clusters:
        raise TraceError(
            source, line, f"unknown cluster {cluster!r} (site has {', '.join(clusters)})"
        )
    if kind not in KINDS:
        raise TraceError(source, line, f"kind {kind!r} is not one of {', '.join(KINDS)}")
    if direction not in ("1", "+1", "-1"):
        raise TraceError(source, line, f"direction {direction!r} must be +1 or -1")
    v = _number(source, line, "speed_mps", speed)
    if not 0 < v < 100:
        raise TraceError(source, line, f"speed_mps {speed} must be in (0, 100)")
    k = clusters[cluster]
    entry, after, stay = math.nan, math.inf, 0.0
    if rest and rest[0]:
        entry = _number(source, line, "entry_m", rest[0])
        if not 0 <= entry <= lengths[k]:
            raise TraceError(
                source, line, f"entry_m {rest[0]} is not on {cluster} (0..{lengths[k]:g})"
            )
    if len(rest) > 1 and rest[1]:
        after = _number(source, line, "linger_after_m", rest[1])
        if not after >= 0:
            raise TraceError(source, line, f"linger_after_m {rest[1]} must be >= 0")
    if len(rest) > 2 and rest[2]:
        stay = _number(source, line, "linger_s", rest[2])
        if not 0 <= stay < 86400:
            raise TraceError(source, line, f"linger_s {rest[2]} must be in [0, 86400)")
    return t, k, KINDS.index(kind), int(direction), v, entry, after, stay
