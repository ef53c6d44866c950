"""The street's hardware, vectorised: sensor nodes that count road users, lamp nodes that obey
leases. Both with the faults a real street has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge.control import CountsBatch, DriverCurve, KeyLine, SiteSpec

__all__ = ["LampNodes", "SensorBank", "SensorModel"]

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
    are when a sensor first counted it and when the gateway first heard of that."""

    site: SiteSpec
    rng: np.random.Generator
    report_s: float = 10.0
    model: SensorModel = field(default_factory=SensorModel)
    users: int = 0
    ids: tuple[str, ...] = ()
    faults: _SensorFaults = field(init=False)

    def __post_init__(self) -> None:
        sensors = self.site.sensors
        n = len(sensors)
        self.ids = tuple(s.id for s in sensors)
        lengths = np.array([c.length_m for c in self.site.clusters])
        # one key line, each road 1 m past the previous one's end; a move is clipped to its
        # road +- 0.5 m before the search (the sensors it passes stay the same)
        self._lengths = lengths
        self._offset = np.concatenate(([0.0], np.cumsum(lengths + 1.0)[:-1]))
        keys = np.array([self._offset[s.cluster] + s.position_m for s in sensors])
        self._order = np.argsort(keys, kind="stable")
        self._line = KeyLine(keys[self._order])
        self._keys = keys
        self.cluster = np.array([s.cluster for s in sensors], dtype=np.intp)
        self.pir = np.array([not s.directional for s in sensors], dtype=bool)
        self._miss = np.where(self.pir, self.model.pir_miss, self.model.radar_miss)
        self.pending = np.zeros((n, 2, 3), dtype=np.int64)  # [sensor, forward/backward, kind]
        self.speed_sum = np.zeros(n)
        self.speed_n = np.zeros(n)
        self.last_cross = np.full(n, -np.inf)  # the latest crossing in the pending report
        self.last_report = np.full(n, -np.inf)
        self.seen_at = np.full(self.users, np.inf)
        self.heard_at = np.full(self.users, np.inf)
        # road users counted but not yet in a report (user, sensor), and those in reports on
        # their way (user, report)
        self._counted = (np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp))
        self._carried = (np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp))
        inf = np.full(n, np.inf)
        self.faults = _SensorFaults(
            inf.copy(), inf.copy(), inf.copy(), np.zeros(n), inf.copy(), np.zeros(n)
        )
        # reports on their way: arrival, sensor, counts, mean speed, report number
        self._flight = _Reports.empty()
        self._reports_made = 0
        self.reports = 0
        self.missed = 0
        self._has = np.zeros(n, dtype=bool)  # sensors with something pending
        self._next_due = -np.inf  # earliest liveness report due
        self._noisy = False  # any noisy fault configured

    def set_fault(self, kind: str, sensor: int, at: float, *, delay_s: float = 0.0,
                  rate_per_h: float = 0.0) -> None:  # fmt: skip
        """From ``at``: dead (silent), stuck (zeros), noisy (phantoms) or late (delayed)."""
        f = self.faults
        if kind == "sensor_dead":
            f.dead[sensor] = at
        elif kind == "sensor_stuck":
            f.stuck[sensor] = at
        elif kind == "sensor_noisy":
            f.noisy[sensor], f.noisy_rate[sensor] = at, rate_per_h
            self._noisy = True
        elif kind == "sensor_late":
            f.late[sensor], f.late_delay[sensor] = at, delay_s
        else:
            raise ValueError(f"unknown sensor fault {kind!r}")

    def index(self, sensor_id: str) -> int:
        return self.ids.index(sensor_id)

    def detect(
        self, now: float, since: FloatArray, prev: FloatArray, new: FloatArray,
        cluster: IntArray, direction: IntArray, kind: IntArray, speed: FloatArray,
        user: IntArray,
    ) -> None:  # fmt: skip
        """Count every road user whose move from ``prev`` (at ``since``) to ``new`` (at
        ``now``) crossed a sensor's position, unless the sensor missed it."""
        if not len(prev) or not len(self._line.keys):
            return
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
        lengths = np.maximum(hi - lo, 0)
        total = int(lengths.sum())
        if not total:
            return
        who = np.repeat(np.arange(len(lo)), lengths)
        first = np.cumsum(lengths) - lengths
        sensor = self._order[lo[who] + (np.arange(total) - first[who])]
        counted = self.rng.uniform(size=total) >= self._miss[sensor]
        self.missed += int(total - counted.sum())
        who, sensor = who[counted], sensor[counted]
        if not len(who):
            return
        # when it crossed: along the move, in proportion to the distance
        span = b[who] - a[who]
        frac = np.where(span != 0, (self._keys[sensor] - a[who]) / np.where(span != 0, span, 1), 1)
        crossed = since[who] + np.clip(frac, 0.0, 1.0) * (now - since[who])
        pir = self.pir[sensor]
        np.add.at(self.pending, (sensor, np.where(fwd[who] | pir, 0, 1), kind[who]), 1)
        radar = ~pir
        noise = self.rng.normal(0.0, self.model.speed_noise / 2.0, size=len(who))
        measured = speed[who] * np.maximum(1.0 + noise, 0.1)
        np.add.at(self.speed_sum, sensor[radar], measured[radar])
        np.add.at(self.speed_n, sensor[radar], 1.0)
        np.maximum.at(self.last_cross, sensor, crossed)
        self._has[sensor] = True
        f = self.faults
        heard = (now < f.dead[sensor]) & (now < f.stuck[sensor])
        if self.users:
            users = user[who][heard]
            np.minimum.at(self.seen_at, users, crossed[heard])
            self._counted = (np.concatenate((self._counted[0], users)),
                             np.concatenate((self._counted[1], sensor[heard])))  # fmt: skip

    def collect(self, now: float, dt: float) -> CountsBatch | None:
        """The reports the gateway receives at ``now``: sent at once after a detection,
        every ``report_s`` otherwise, each arriving after the model's latency; none from a
        dead sensor, zeros from a stuck one."""
        f = self.faults
        quiet = now < self._next_due and not len(self._flight.at) and not self._noisy
        if quiet and not self._has.any():
            return None  # nothing seen, no liveness report due: the common tick
        if self._noisy:
            noisy = (now >= f.noisy).nonzero()[0]
            if len(noisy):
                phantoms = self.rng.poisson(f.noisy_rate[noisy] / 3600.0 * dt)
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
        counts = self.pending[rows].copy()
        counts[now >= f.stuck[rows]] = 0  # stuck at zero: alive, but blind
        sent = np.where(self._has[rows], np.maximum(self.last_cross[rows], now - dt), now)
        lo, hi = self.model.latency_s
        delay = self.rng.uniform(lo, hi, len(rows))  # drawn even when 0: one random stream
        delay += np.where(now >= f.late[rows], f.late_delay[rows], 0.0)
        number = self._reports_made + np.arange(len(rows))
        self._reports_made += len(rows)
        self._flight = self._flight.plus(_Reports(sent + delay, rows, counts, speed, number))
        if self.users:  # the road users these reports carry
            report_of = np.full(len(self.ids), -1, dtype=np.intp)
            report_of[rows] = number
            users, sensors = self._counted
            carried = report_of[sensors] >= 0
            self._carried = (
                np.concatenate((self._carried[0], users[carried])),
                np.concatenate((self._carried[1], report_of[sensors[carried]])),
            )
            self._counted = (users[~carried], sensors[~carried])  # fmt: skip
        self.pending[rows] = 0
        self.speed_sum[rows] = 0.0
        self.speed_n[rows] = 0.0
        self.last_cross[rows] = -np.inf
        self._has[rows] = False
        self.last_report[rows] = now
        self._next_due = float(self.last_report.min()) + self.report_s

    def _arrived(self, now: float, dt: float) -> CountsBatch | None:
        """The reports that have reached the gateway by ``now``, in the order they came."""
        flight = self._flight
        here = flight.at <= now
        if not here.any():
            return None
        got = flight.take(here.nonzero()[0])
        self._flight = flight.take((~here).nonzero()[0])
        got = got.take(np.argsort(got.at, kind="stable"))
        if self.users:
            users, report = self._carried
            heard = np.isin(report, got.number)
            np.minimum.at(self.heard_at, users[heard], now)
            self._carried = (users[~heard], report[~heard])
        self.reports += len(got.at)
        return CountsBatch(
            sensors=tuple(self.ids[s] for s in got.sensor.tolist()),
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
    number: IntArray

    @classmethod
    def empty(cls) -> _Reports:
        return cls(np.zeros(0), np.zeros(0, dtype=np.intp), np.zeros((0, 2, 3), dtype=np.int64),
                   np.zeros(0), np.zeros(0, dtype=np.intp))  # fmt: skip

    def plus(self, other: _Reports) -> _Reports:
        return _Reports(*(np.concatenate((a, b)) for a, b in zip(self.columns(), other.columns(),
                                                                 strict=True)))  # fmt: skip

    def take(self, rows: IntArray) -> _Reports:
        return _Reports(*(column[rows] for column in self.columns()))

    def columns(self) -> tuple[np.ndarray, ...]:
        return (self.at, self.sensor, self.counts, self.speed, self.number)


class LampNodes:
    """Every lamp node: holds its lease, fades as a driver does, falls back to its failsafe
    level when the lease lapses; power from the driver curve; lamp failure and day burning."""

    def __init__(
        self, *, nominal_w: FloatArray, curve: DriverCurve, failsafe_level: float = 1.0,
        fade_per_s: float = 2.0,
    ) -> None:  # fmt: skip
        n = len(nominal_w)
        self.nominal_w = nominal_w
        self.curve = curve
        self.failsafe_level = failsafe_level
        self.fade_per_s = fade_per_s
        self.lease_level = np.ones(n)
        self.lease_until = np.full(n, -np.inf)
        self.output = np.ones(n)  # power-on: full until a lease arrives
        self.commanded = np.ones(n)
        self.failed_from = np.full(n, np.inf)
        self.burning_from = np.full(n, np.inf)
        self.power_w = curve.power_w(self.output, nominal_w)
        self._power_sum = float(self.power_w.sum())
        self._faults_from = np.inf  # earliest lamp fault: none
        self.energy_wh = 0.0
        self.failsafe_lamp_s = 0.0

    def apply(self, now: float, lamps: IntArray, levels: FloatArray, lease_s: float) -> None:
        self.lease_level[lamps] = levels
        self.lease_until[lamps] = now + lease_s

    def tick(self, now: float, dt: float) -> None:
        holding = now < self.lease_until
        np.copyto(self.commanded, self.lease_level)
        lapsed = (~holding).nonzero()[0]
        if len(lapsed):
            self.commanded[lapsed] = self.failsafe_level
            self.failsafe_lamp_s += len(lapsed) * dt
        if self._faults_from <= now:
            self.commanded[now >= self.burning_from] = 1.0
        step = self.fade_per_s * dt
        before = self.output.copy()
        delta = self.commanded - self.output
        np.minimum(delta, step, out=delta)
        np.maximum(delta, -step, out=delta)
        self.output += delta
        if self._faults_from <= now:
            self.output[now >= self.failed_from] = 0.0
        self.energy_wh += self._power_sum * dt / 3600.0  # at the power held
        if not np.array_equal(before, self.output):
            self.power_w = self.curve.power_w(self.output, self.nominal_w)
            if self._faults_from <= now:
                self.power_w[now >= self.failed_from] = 0.0
            self._power_sum = float(self.power_w.sum())

    def set_failure(self, lamp: int, at: float) -> None:
        self.failed_from[lamp] = at
        self._faults_from = min(self._faults_from, at)

    def set_day_burner(self, lamp: int, at: float) -> None:
        self.burning_from[lamp] = at
        self._faults_from = min(self._faults_from, at)
