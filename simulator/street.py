"""The street's sensor nodes, vectorised: they count road users passing them and report to
the gateway, with the faults real ones have (the lamp nodes are in ``simulator.lamps``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge.control import CountsBatch, KeyLine, SiteSpec
from simulator.keyed import KeyedDraws

__all__ = ["SensorBank", "SensorModel"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorModel:
    """How real sensor nodes fall short of counting every road user perfectly. A radar
    misses ``radar_miss`` of crossings and measures speed with a relative error of standard
    deviation ``speed_noise`` / 2 (95 % within +- ``speed_noise``); a PIR misses
    ``pir_miss``, and says neither direction nor speed; every report reaches the gateway
    ``latency_s`` (uniform) after the crossing."""

    radar_miss: float = 0.02
    pir_miss: float = 0.06
    speed_noise: float = 0.10
    latency_s: tuple[float, float] = (0.2, 1.5)

    @classmethod
    def ideal(cls) -> SensorModel:
        """Every crossing counted, speeds exact, reports at once (PIRs still say neither
        direction nor speed: that is what they are)."""
        return cls(radar_miss=0.0, pir_miss=0.0, speed_noise=0.0, latency_s=(0.0, 0.0))


# the streams of the sensors' random draws
_MISS, _NOISE, _LATENCY, _PHANTOMS = range(1, 5)


@dataclass
class _SensorFaults:
    dead: FloatArray
    stuck: FloatArray
    noisy: FloatArray
    noisy_rate: FloatArray
    late: FloatArray
    late_delay: FloatArray


@dataclass
class SensorBank:
    """Every sensor node: counts road users crossing its position (as ``model`` says a real
    one does), reports at once when it saw someone and every ``report_s`` otherwise
    (liveness), per PROTOCOL.md. ``seen_at`` and ``heard_at`` (per road user, of ``users``)
    are when a sensor first counted it and when the gateway first heard of that.

    Its random draws are keyed (``seed``; a road user at a sensor, a sensor's report, a
    sensor in a tick): with ``replicas`` of a street side by side (``SiteSpec.tiled``), a
    sensor is keyed by its place in its replica and a road user by ``user_key`` (its number
    in its own night; None: its index), so each replica draws what it would alone."""

    site: SiteSpec
    seed: int = 0
    report_s: float = 10.0
    model: SensorModel = field(default_factory=SensorModel)
    users: int = 0
    replicas: int = 1
    user_key: IntArray | None = None
    ids: tuple[str, ...] = ()
    faults: _SensorFaults = field(init=False)

    def __post_init__(self) -> None:
        sensors = self.site.sensors
        n = len(sensors)
        self._draws = KeyedDraws(self.seed)
        self._sensor_key = np.arange(n, dtype=np.intp) % max(n // self.replicas, 1)
        self._ticks = 0
        self.ids = tuple(s.id for s in sensors)
        lengths = np.array([c.length_m for c in self.site.clusters])
        # one key line, each road 1 m past the previous one's end; a move is clipped to its
        # road +- 0.5 m before the search (the sensors it passes stay the same)
        self._lengths = lengths
        self._offset = np.concatenate(([0.0], np.cumsum(lengths + 1.0)[:-1]))
        keys = np.array([self._offset[s.cluster] + s.position_m for s in sensors])
        self._order = np.argsort(keys, kind="stable")
        self._line = KeyLine(keys[self._order])
        self._ends = np.concatenate(([-np.inf], keys[self._order], [np.inf]))
        self._keys = keys
        # no road user on the roads can reach a sensor before this (epoch s); none is newer
        # than road user ``_newest``
        self._quiet_until = -np.inf
        self._newest = -1
        self.cluster = np.array([s.cluster for s in sensors], dtype=np.intp)
        self.pir = np.array([not s.directional for s in sensors], dtype=bool)
        self._miss = np.where(self.pir, self.model.pir_miss, self.model.radar_miss)
        self.pending = np.zeros((n, 2, 3), dtype=np.int64)  # [sensor, forward/backward, kind]
        self.speed_sum = np.zeros(n)
        self.speed_n = np.zeros(n)
        self.last_cross = np.full(n, -np.inf)  # the latest crossing in the pending report
        self.last_report = np.full(n, -np.inf)
        self.seen_at = np.full(self.users, np.inf)
        # who was in which report, resolved into ``heard_at`` when asked: per count, (road
        # users, sensor, that sensor's report number to come); per arrival, (sensors, their
        # report numbers, when the gateway heard them)
        self._sent = np.zeros(n, dtype=np.intp)  # reports each sensor has sent
        self._counted: list[tuple[IntArray, IntArray, IntArray]] = []
        self._heard: list[tuple[IntArray, IntArray, float]] = []
        inf = np.full(n, np.inf)
        self.faults = _SensorFaults(
            inf.copy(), inf.copy(), inf.copy(), np.zeros(n), inf.copy(), np.zeros(n)
        )
        # reports on their way, by arrival (in the order sent when two arrive at once), and
        # the earliest arrival of them
        self._flight = _Reports.empty()
        self._first_arrival = np.inf
        self._names = np.array(self.ids, dtype=object)
        self.reports = 0
        self.missed = 0
        self._has = np.zeros(n, dtype=bool)  # sensors with something pending
        self._next_due = -np.inf  # earliest liveness report due
        self._noisy = False  # any noisy fault configured
        self._stuck = self._late = False  # any stuck or late fault configured

    def set_fault(self, kind: str, sensor: int, at: float, *, delay_s: float = 0.0,
                  rate_per_h: float = 0.0) -> None:  # fmt: skip
        """From ``at``: dead (silent), stuck (zeros), noisy (phantoms) or late (delayed)."""
        f = self.faults
        if kind == "sensor_dead":
            f.dead[sensor] = at
        elif kind == "sensor_stuck":
            f.stuck[sensor] = at
            self._stuck = True
        elif kind == "sensor_noisy":
            f.noisy[sensor], f.noisy_rate[sensor] = at, rate_per_h
            self._noisy = True
        elif kind == "sensor_late":
            f.late[sensor], f.late_delay[sensor] = at, delay_s
            self._late = True
        else:
            raise ValueError(f"unknown sensor fault {kind!r}")

    def index(self, sensor_id: str) -> int:
        return self.ids.index(sensor_id)

    @property
    def heard_at(self) -> FloatArray:
        """Per road user, when the gateway first heard a report that counted it (inf:
        never)."""
        out = np.full(self.users, np.inf)
        if not self._counted or not self._heard:
            return out
        users, sensor, number = (np.concatenate(c) for c in zip(*self._counted, strict=True))
        got_sensor = np.concatenate([h[0] for h in self._heard])
        got_number = np.concatenate([h[1] for h in self._heard])
        got_at = np.repeat([h[2] for h in self._heard], [len(h[0]) for h in self._heard])
        width = int(max(number.max(), got_number.max())) + 1
        got_key = got_sensor * width + got_number  # each (sensor, report) arrives once
        order = np.argsort(got_key)
        key = sensor * width + number
        at = np.minimum(got_key[order].searchsorted(key), len(order) - 1)
        found = got_key[order][at] == key
        np.minimum.at(out, users[found], got_at[order][at[found]])
        return out

    def detect(
        self, now: float, since: FloatArray, prev: FloatArray, new: FloatArray,
        cluster: IntArray, direction: IntArray, kind: IntArray, speed: FloatArray,
        user: IntArray,
    ) -> None:  # fmt: skip
        """Count every road user whose move from ``prev`` (at ``since``) to ``new`` (at
        ``now``) crossed a sensor's position, unless the sensor missed it."""
        if not len(prev) or not len(self._line.keys):
            return
        if now < self._quiet_until and int(user.max()) <= self._newest:
            return  # the same road users, none near enough to a sensor to reach it yet
        off = self._offset[cluster]
        end = self._lengths[cluster] + 0.5
        a = np.clip(prev, -0.5, end)
        a += off
        b = np.clip(new, -0.5, end)
        b += off
        fwd = direction > 0
        # sensors passed: in (a, b] going forward, in [b, a) going backward
        low, high = (
            np.where(fwd, np.nextafter(a, np.inf), b),
            np.where(fwd, np.nextafter(b, np.inf), a),
        )
        found = self._line.left(np.concatenate((low, high)))
        lo, hi = found[: len(a)], found[len(a) :]
        # the next sensor ahead of each one: the first key past b going forward, the last
        # below it going backward; they move at most at their speed (a millisecond spare)
        ahead = np.where(fwd, self._ends[hi + 1] - b, b - self._ends[lo])
        soonest = np.divide(ahead, speed, out=np.full(len(b), np.inf), where=speed > 0)
        self._quiet_until = now + float(soonest.min()) - 1e-3
        self._newest = int(user.max())
        lengths = np.maximum(hi - lo, 0)
        total = int(lengths.sum())
        if not total:
            return
        who = np.repeat(np.arange(len(lo)), lengths)
        first = np.cumsum(lengths) - lengths
        sensor = self._order[lo[who] + (np.arange(total) - first[who])]
        numbers = user[who] if self.user_key is None else self.user_key[user[who]]
        keys = numbers, self._sensor_key[sensor]
        counted = self._draws.uniform(_MISS, *keys) >= self._miss[sensor]
        self.missed += int(total - counted.sum())
        who, sensor, keys = who[counted], sensor[counted], (keys[0][counted], keys[1][counted])
        if not len(who):
            return
        # when it crossed: along the move, in proportion to the distance
        span = b[who] - a[who]
        frac = np.where(span != 0, (self._keys[sensor] - a[who]) / np.where(span != 0, span, 1), 1)
        crossed = since[who] + np.clip(frac, 0.0, 1.0) * (now - since[who])
        pir = self.pir[sensor]
        np.add.at(self.pending, (sensor, np.where(fwd[who] | pir, 0, 1), kind[who]), 1)
        radar = ~pir
        noise = self._draws.normal(_NOISE, *keys) * (self.model.speed_noise / 2.0)
        measured = speed[who] * np.maximum(1.0 + noise, 0.1)
        np.add.at(self.speed_sum, sensor[radar], measured[radar])
        np.add.at(self.speed_n, sensor[radar], 1.0)
        np.maximum.at(self.last_cross, sensor, crossed)
        self._has[sensor] = True
        f = self.faults
        heard = (now < f.dead[sensor]) & (now < f.stuck[sensor])
        if self.users:
            users, by = user[who][heard], sensor[heard]
            np.minimum.at(self.seen_at, users, crossed[heard])
            self._counted.append((users, by, self._sent[by]))

    def collect(self, now: float, dt: float) -> CountsBatch | None:
        """The reports the gateway receives at ``now``: sent at once after a detection,
        every ``report_s`` otherwise, each arriving after the model's latency; none from a
        dead sensor, zeros from a stuck one."""
        f = self.faults
        self._ticks += 1
        quiet = now < self._next_due and now < self._first_arrival and not self._noisy
        if quiet and not self._has.any():
            return None  # nothing seen, none due, none arriving: the common tick
        if self._noisy:
            noisy = (now >= f.noisy).nonzero()[0]
            if len(noisy):
                lam = f.noisy_rate[noisy] / 3600.0 * dt
                phantoms = self._draws.poisson(_PHANTOMS, lam, self._sensor_key[noisy], self._ticks)
                self.pending[noisy, 0, 0] += phantoms
                self._has[noisy[phantoms > 0]] = True
        due = self._has.copy()
        if now >= self._next_due:
            due |= now - self.last_report >= self.report_s
        due &= now < f.dead
        rows = due.nonzero()[0]
        if len(rows):
            self._send(now, dt, rows)
        return self._arrived(now, dt)

    def _send(self, now: float, dt: float, rows: IntArray) -> None:
        """The sensors ``rows`` report what they counted: the reports set off, to arrive
        after the latency (and a late sensor's delay)."""
        f = self.faults
        n = self.speed_n[rows]
        speed = np.where(n > 0, self.speed_sum[rows] / np.maximum(n, 1.0), 0.0)
        counts = self.pending[rows]  # a copy: rows is an index array
        if self._stuck:
            counts[now >= f.stuck[rows]] = 0  # stuck at zero: alive, but blind
        sent = np.where(self._has[rows], np.maximum(self.last_cross[rows], now - dt), now)
        lo, hi = self.model.latency_s
        late = self._draws.uniform(_LATENCY, self._sensor_key[rows], self._sent[rows])
        delay = lo + (hi - lo) * late
        if self._late:
            delay += np.where(now >= f.late[rows], f.late_delay[rows], 0.0)
        at = sent + delay
        self._flight = self._flight.plus(_Reports(at, rows, counts, speed, self._sent[rows]))
        self._first_arrival = float(self._flight.at[0])
        self._sent[rows] += 1
        self.pending[rows] = 0
        self.speed_sum[rows] = 0.0
        self.speed_n[rows] = 0.0
        self.last_cross[rows] = -np.inf
        self._has[rows] = False
        self.last_report[rows] = now
        self._next_due = float(self.last_report.min()) + self.report_s

    def _arrived(self, now: float, dt: float) -> CountsBatch | None:
        """The reports that have reached the gateway by ``now``, in the order they came."""
        if now < self._first_arrival:
            return None
        flight = self._flight
        here = int(flight.at.searchsorted(now, side="right"))
        got, self._flight = flight.cut(here)
        self._first_arrival = float(self._flight.at[0]) if len(self._flight.at) else np.inf
        if self.users:  # only a report that counted someone can tell when it was heard
            counted = got.counts.reshape(len(got.at), -1).any(axis=1)
            if counted.any():
                self._heard.append((got.sensor[counted], got.number[counted], now))
        self.reports += len(got.at)
        return CountsBatch(
            sensors=tuple(self._names[got.sensor].tolist()),
            interval_s=np.full(len(got.at), max(dt, 1e-3)),
            forward=got.counts[:, 0, :].astype(np.int64),
            backward=got.counts[:, 1, :].astype(np.int64),
            mean_speed_mps=got.speed.astype(np.float64),
            index=got.sensor,
        )


@dataclass(frozen=True, slots=True)
class _Reports:
    """Sensor reports on their way to the gateway, as arrays."""

    at: FloatArray  # when each arrives
    sensor: IntArray
    counts: npt.NDArray[np.int64]  # (reports, forward/backward, kind)
    speed: FloatArray
    number: IntArray  # the sensor's own report number

    @classmethod
    def empty(cls) -> _Reports:
        return cls(np.zeros(0), np.zeros(0, dtype=np.intp), np.zeros((0, 2, 3), dtype=np.int64),
                   np.zeros(0), np.zeros(0, dtype=np.intp))  # fmt: skip

    def plus(self, sent: _Reports) -> _Reports:
        """These and ``sent``, by arrival; of two arriving at once, the one sent first."""
        joined = [np.concatenate(c) for c in zip(self.columns(), sent.columns(), strict=True)]
        order = np.argsort(joined[0], kind="stable")
        return _Reports(*(column[order] for column in joined))

    def cut(self, n: int) -> tuple[_Reports, _Reports]:
        """The first ``n`` and the rest."""
        columns = self.columns()
        return _Reports(*(c[:n] for c in columns)), _Reports(*(c[n:] for c in columns))

    def columns(self) -> tuple[np.ndarray, ...]:
        return (self.at, self.sensor, self.counts, self.speed, self.number)
