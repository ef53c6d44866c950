"""A naive reference controller: plain Python, one lamp at a time, same semantics as DESIGN.md.

Written from the policy's description, not from the vectorised code, so that the two
cross-check each other (tests) and the benchmark can show what vectorising buys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from edge.control import Override, PolicyParams, Profile, SensorCounts, SensorFault, SiteSpec
from edge.control._energy import REFERENCE_SCHEDULE, schedule_level
from edge.control._inputs import KIND_SPEED_BANDS, KINDS, LuxReading, Observation
from edge.control._night import NightClock


def _interp(x: float, xs: tuple[float, ...], ys: tuple[float, ...]) -> float:
    if x <= xs[0]:
        return ys[0]
    for k in range(1, len(xs)):
        if x <= xs[k]:
            t = (x - xs[k - 1]) / (xs[k] - xs[k - 1])
            return ys[k - 1] + t * (ys[k] - ys[k - 1])
    return ys[-1]


def _op(op: str, value: float, level: float) -> float:
    return level if op == "set" else max(value, level) if op == "max" else min(value, level)


@dataclass
class _Lamp:
    id: str
    cluster: int
    pos: float
    nominal: float
    floor: float
    ceiling: float
    clo: float
    level: float = 1.0
    target: float = 1.0
    boost_until: float = -math.inf
    last_sent: float | None = None
    next_refresh: float = -math.inf
    refresh_every: float = 0.0
    power: float = 0.0


@dataclass
class _Sensor:
    id: str
    cluster: int
    pos: float
    last_seen: float
    directional: bool = True
    faulty: bool = False
    bins: dict[int, float] = field(default_factory=dict)


@dataclass
class _Track:
    """A counted road user: somewhere between its slowest and fastest place since t0."""

    t0: float
    cluster: int
    pos0: float
    direction: int
    low: float  # slowest speed it may have (m/s, >= 0)
    high: float  # fastest
    kind: int
    sensor: str
    both: bool  # one of the two tracks of a count with no direction
    extra_behind: float = 0.0  # kept lit behind: where a track it replaced may still be

    def span(self, now: float) -> tuple[float, float]:
        """(lowest, highest) position it may be at now."""
        dt = now - self.t0
        if self.direction > 0:
            return self.pos0 + self.low * dt, self.pos0 + self.high * dt
        return self.pos0 - self.high * dt, self.pos0 - self.low * dt


class ReferenceController:
    def __init__(
        self,
        *,
        site: SiteSpec,
        params: PolicyParams,
        start: float,
        profiles: tuple[Profile, ...] = (),
    ) -> None:
        self.site, self.p, self.now = site, params, start
        self.start = start
        t = site.lamps
        self.lamps = [
            _Lamp(t.ids[i], int(t.cluster[i]), float(t.position_m[i]), float(t.nominal_w[i]),
                  float(t.floor[i]), float(t.ceiling[i]), float(t.clo[i]))
            for i in range(len(t))
        ]  # fmt: skip
        golden = 0.6180339887498949
        for i, lamp in enumerate(self.lamps):
            lamp.refresh_every = params.lease_refresh_s * (1.0 - 0.2 * ((i * golden) % 1.0))
            lamp.power = self._power(lamp, lamp.level)
        self.members = [
            [m for m in self.lamps if m.cluster == k] for k in range(len(site.clusters))
        ]
        self.sensors = [
            _Sensor(s.id, s.cluster, s.position_m, start, directional=s.directional)
            for s in site.sensors
        ]
        self.by_id = {s.id: s for s in self.sensors}
        self.cluster_sensors = [
            [s for s in self.sensors if s.cluster == k] for k in range(len(site.clusters))
        ]
        self.clock = NightClock(params.night)
        self.profiles = list(profiles)
        self.overrides: dict[str, Override] = {}
        self.night: bool | None = None
        self.bin_s = params.flow_window_s / params.flow_bins
        self.energy_wh = [0.0] * len(site.clusters)
        self.baseline_full_wh = [0.0] * len(site.clusters)
        self.baseline_schedule_wh = [0.0] * len(site.clusters)
        self.baseline_reference_wh = [0.0] * len(site.clusters)
        self.cluster_level = [1.0] * len(site.clusters)
        self.cluster_failsafe = [False] * len(site.clusters)
        self.cluster_step = [0] * len(site.clusters)
        self.tracks: list[_Track] = []
        self.step_seq = 0  # every lease a step sends carries that step's seq
        self.sent: list[int] = []  # the lamps whose lease went out at the last step
        self.new_tracks: list[_Track] = []
        self.entry = self._entry_lamps()

    def _power(self, lamp: _Lamp, level: float) -> float:
        """Driver curve at the level resolved to 1/4096; what rounds to 0 is off (standby)."""
        e = self.p.energy
        q = min(max(math.floor(level * 4096 + 0.5), 0), 4096)
        return lamp.nominal * _interp(q / 4096, e.curve_levels, e.curve_power) if q else e.standby_w

    def _frac(self, level: float) -> float:
        e = self.p.energy
        return _interp(level, e.curve_levels, e.curve_power)

    def _entry_lamps(self) -> set[int]:
        """At each road end where road users come on (both ends of a two-way road): the
        lamps from the end in to the one nearest entry_s of travel at the speed limit."""
        p = self.p.presence
        out: set[int] = set()
        if not p.enabled or p.entry_s <= 0:
            return out
        for k, cl in enumerate(self.site.clusters):
            mine = [i for i, m in enumerate(self.lamps) if m.cluster == k]
            if not mine:
                continue
            reach = p.entry_s * cl.speed_limit_mps
            ends = [(0.0, 1.0), (cl.length_m, -1.0)] if cl.two_way else [(0.0, 1.0)]
            for end, inward in ends:
                depth = {i: (self.lamps[i].pos - end) * inward for i in mine}
                nearest = min(mine, key=lambda i: abs(depth[i] - reach))
                out |= {i for i in mine if depth[i] <= depth[nearest]}
        return out

    def _band(
        self, limit: float, kind: int, single: bool, mean: float | None
    ) -> tuple[float, float]:
        """The slowest and fastest a road user of ``kind`` may go: the measured mean +-
        speed_spread when the report counted one road user, else the kind's band."""
        lo, hi = KIND_SPEED_BANDS[KINDS[kind]]
        if KINDS[kind] == "car":
            lo, hi = lo * limit, hi * limit
        if mean is not None and 0 < mean < math.inf and single:
            s = self.p.presence.speed_spread
            lo, hi = mean * (1 - s), mean * (1 + s)
        if KINDS[kind] == "pedestrian":
            lo = min(lo, KIND_SPEED_BANDS["pedestrian"][0])
        return max(lo, 0.0), max(hi, 1e-3)

    def _count(
        self, now: float, s: _Sensor, direction: int, counts: tuple[int, ...], obs: SensorCounts
    ) -> None:
        if not self.p.presence.enabled:
            return
        limit = self.site.clusters[s.cluster].speed_limit_mps
        for kind, n in enumerate(counts):
            if n <= 0:
                continue
            lo, hi = self._band(limit, kind, obs.total == 1, obs.mean_speed_mps)
            ways = [direction] if s.directional else [1, -1]
            for d in ways:
                track = _Track(now, s.cluster, s.pos, d, lo, hi, kind, s.id, not s.directional)
                self.new_tracks.append(track)

    def _start_tracks(self, now: float) -> None:
        """A new count with a direction re-acquires the nearest track (with a direction) of
        the same road, direction and kind whose span holds its sensor (widened by 10 m or
        2.5 s of its fastest travel), not one counted at that sensor; the new track keeps
        lit behind its sensor every place the old one's road user may still be, and moves
        no faster than its slowest speed."""
        gone: set[int] = set()
        for new in self.new_tracks:
            if new.both:
                continue
            best = None
            for old in self.tracks:
                if (old.both or old.cluster != new.cluster or old.direction != new.direction
                        or old.kind != new.kind or old.sensor == new.sensor):  # fmt: skip
                    continue
                lo, hi = old.span(now)
                slack = max(10.0, 2.5 * old.high)
                if lo - slack <= new.pos0 <= hi + slack:
                    dist = abs((lo + hi) / 2 - new.pos0)
                    if best is None or dist < best[0]:
                        best = (dist, old, lo, hi)
            if best is not None:
                _, old, lo, hi = best
                gone.add(id(old))
                behind = new.pos0 - lo if new.direction > 0 else hi - new.pos0
                new.extra_behind = max(behind, 0.0)
                new.low = min(new.low, old.low)
        self.tracks = [t for t in self.tracks if id(t) not in gone] + self.new_tracks
        self.new_tracks = []

    def _follow_tracks(self, now: float) -> None:
        """Each track lights from behind_m behind its slowest place to lead_s of its fastest
        speed ahead of its fastest place, and at least min_lamps_ahead lamps ahead."""
        p = self.p.presence
        alive = []
        for tr in self.tracks:
            lo, hi = tr.span(now)
            length = self.site.clusters[tr.cluster].length_m
            if now - tr.t0 > p.track_s or lo > length or hi < 0.0:
                continue
            alive.append(tr)
            members = sorted(
                (m for m in self.lamps if m.cluster == tr.cluster), key=lambda m: m.pos
            )
            behind = p.behind_m + tr.extra_behind
            if tr.direction > 0:
                window = (lo - behind, hi + tr.high * p.lead_s)
                ahead = [m for m in members if m.pos >= hi][: p.min_lamps_ahead]
            else:
                window = (lo - tr.high * p.lead_s, hi + behind)
                ahead = [m for m in members if m.pos <= lo][::-1][: p.min_lamps_ahead]
            chosen = {id(m) for m in ahead}
            for m in members:
                if window[0] <= m.pos <= window[1] or id(m) in chosen:
                    m.boost_until = max(m.boost_until, now + p.hold_s)
        self.tracks = alive

    def presence_level(self, k: int) -> float:
        p = self.p.presence
        if not p.enabled:
            return 0.0
        cl = self.site.clusters[k]
        if cl.family == "M":
            step = max(self.cluster_step[k] - p.m_steps_up, 0)
            return cl.ladder_levels[min(step, len(cl.ladder) - 1)]
        return p.pc_level

    def step(self, now: float, observations: list[Observation]) -> None:
        dt = max(0.0, now - self.now)
        self.step_seq += 1
        self.sent = []
        prev_night = self.night if self.night is not None else self.clock.verdict(self.now).night
        minute = self.clock.local(self.now).minute
        for k in range(len(self.site.clusters)):
            members = self.members[k]
            self.energy_wh[k] += sum(m.power for m in members) * dt / 3600
            standby = len(members) * self.p.energy.standby_w
            nominal = sum(m.nominal for m in members)
            if prev_night:
                full = nominal * self._frac(1.0)
                sl = schedule_level(self.p.energy.schedule, minute)
                sched = nominal * self._frac(sl) if sl > 0 else standby
                ref = nominal * self._frac(schedule_level(REFERENCE_SCHEDULE, minute))
            else:
                full = sched = ref = standby
            self.baseline_full_wh[k] += full * dt / 3600
            self.baseline_schedule_wh[k] += sched * dt / 3600
            self.baseline_reference_wh[k] += ref * dt / 3600
        current_bin = math.floor((now - self.start) / self.bin_s)
        for obs in observations:
            sensor = self.by_id.get(getattr(obs, "sensor", ""))
            if isinstance(obs, SensorCounts):
                if sensor is None or min((*obs.forward, *obs.backward)) < 0 or obs.interval_s <= 0:
                    continue
                sensor.last_seen = now
                if obs.total:
                    sensor.bins[current_bin] = sensor.bins.get(current_bin, 0.0) + obs.total
                if sum(obs.forward) > 0:
                    self._count(now, sensor, 1, obs.forward, obs)
                if sum(obs.backward) > 0:
                    self._count(now, sensor, -1, obs.backward, obs)
            elif isinstance(obs, SensorFault) and sensor is not None:
                sensor.faulty = obs.faulty
                sensor.last_seen = now
            elif isinstance(obs, LuxReading) and obs.sensor == self.p.night.lux_sensor:
                self.clock.observe_lux(now, obs.lux)
        self._start_tracks(now)
        self._follow_tracks(now)
        night = self.clock.verdict(now).night
        window = self.p.flow_window_s  # the bins' counts (running bin included) over the window
        warm = now - self.start >= self.p.flow_window_s
        for k, cl in enumerate(self.site.clusters):
            mine = self.cluster_sensors[k]
            bad = [s.faulty or now - s.last_seen > self.p.stale_s for s in mine]
            flows = [
                0.0
                if b
                else sum(c for bi, c in s.bins.items() if bi > current_bin - self.p.flow_bins)
                * 3600
                / window
                for s, b in zip(mine, bad, strict=True)
            ]
            failsafe = any(bad)
            ratio = max(flows, default=0.0) / cl.capacity_per_h
            top = len(cl.ladder) - 1
            up = min(sum(1 for t in self.p.class_thresholds if ratio < t), top)
            h = 1.0 - self.p.class_hysteresis
            down = min(sum(1 for t in self.p.class_thresholds if ratio < t * h), top)
            step = min(up, max(self.cluster_step[k], down))
            if not mine or failsafe or not warm:
                step = 0
            self.cluster_step[k] = step
            self.cluster_level[k] = cl.ladder_levels[step]
            self.cluster_failsafe[k] = failsafe
        for o in [o for o in self.overrides.values() if o.expires_at <= now]:
            del self.overrides[o.id]
        local = self.clock.local(now)
        for i, m in enumerate(self.lamps):
            floor = m.floor
            for o in self.overrides.values():
                if (
                    o.allow_dark
                    and o.op in ("set", "min")
                    and o.target in ("all", m.id, self.site.clusters[m.cluster].id)
                ):
                    floor = 0.0
            v = self.cluster_level[m.cluster] if night else self.p.night.day_level
            if night:
                if m.boost_until >= now or (i in self.entry and self.p.presence.enabled):
                    v = max(v, self.presence_level(m.cluster))
                for pr in self.profiles:
                    if pr.active(local.minute, local.weekday) and pr.target in (
                        "all",
                        m.id,
                        self.site.clusters[m.cluster].id,
                    ):
                        v = _op(pr.op, v, pr.level)
                if self.cluster_failsafe[m.cluster]:
                    v = 1.0
            for o in self.overrides.values():
                if o.target in ("all", m.id, self.site.clusters[m.cluster].id):
                    v = _op(o.op, v, o.level)
            v = min(v, m.ceiling)
            v = max(v, floor) if night else max(v, 0.0)
            cmd = v * m.clo
            new = max(
                min(cmd, m.level + self.p.ramp_up_per_s * max(dt, self.p.tick_s)),
                m.level - self.p.ramp_down_per_s * dt,
            )
            if night:
                new = max(new, floor * m.clo)
            changed = new != m.level
            m.target, m.level = cmd, new
            if changed:
                moved = (
                    m.last_sent is not None
                    and abs(new - m.last_sent) >= self.p.deadband
                    and new != m.last_sent
                )
                settled = new == cmd and new != m.last_sent
                send = moved or settled
            else:
                send = False
            if send or m.next_refresh <= now:
                m.last_sent, m.next_refresh = new, now + m.refresh_every
                self.sent.append(i)
            m.power = self._power(m, new)
        self.night, self.now = night, now

    def add_override(self, o: Override) -> None:
        self.overrides[o.id] = o

    def clear_override(self, key: str) -> None:
        for o in [o for o in self.overrides.values() if key in (o.id, o.target)]:
            del self.overrides[o.id]
