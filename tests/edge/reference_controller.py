"""A naive reference controller: plain Python, one lamp at a time, same semantics as DESIGN.md.

Written from the policy's description, not from the vectorised code, so that the two
cross-check each other (tests) and the benchmark can show what vectorising buys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from edge.control import Override, PolicyParams, Profile, SensorCounts, SensorFault, SiteSpec
from edge.control._energy import REFERENCE_SCHEDULE, schedule_level
from edge.control._inputs import DEFAULT_SPEED_MPS, KINDS, LuxReading, Observation
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
    faulty: bool = False
    bins: dict[int, float] = field(default_factory=dict)


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
        self.sensors = [_Sensor(s.id, s.cluster, s.position_m, start) for s in site.sensors]
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
        self.tracks: list[tuple[float, int, float, int, float]] = []
        self.step_seq = 0  # every lease a step sends carries that step's seq
        self.sent: list[int] = []  # the lamps whose lease went out at the last step
        self.new_tracks: list[tuple[float, int, float, int, float]] = []

    def _power(self, lamp: _Lamp, level: float) -> float:
        """Driver curve at the level resolved to 1/4096; what rounds to 0 is off (standby)."""
        e = self.p.energy
        q = min(max(math.floor(level * 4096 + 0.5), 0), 4096)
        return lamp.nominal * _interp(q / 4096, e.curve_levels, e.curve_power) if q else e.standby_w

    def _frac(self, level: float) -> float:
        e = self.p.energy
        return _interp(level, e.curve_levels, e.curve_power)

    def _boost(
        self, now: float, s: _Sensor, direction: int, counts: tuple[int, ...], mean: float | None
    ) -> None:
        limit = self.site.clusters[s.cluster].speed_limit_mps
        if mean is not None and 0 < mean < math.inf:
            speed = mean
        else:
            seen = [
                limit if k == "car" else DEFAULT_SPEED_MPS[k]
                for k, n in zip(KINDS, counts, strict=False)
                if n > 0
            ]
            speed = max(seen) if seen else limit
        self.new_tracks.append((now, s.cluster, s.pos, direction, speed))

    def _start_tracks(self, now: float) -> None:
        """New counts replace tracks of the same road user (same road and direction, within
        max(20 m, 2 s of travel) of the counting sensor, speed within max(2 m/s, 30 %))."""
        for _, cluster, at, direction, v_new in self.new_tracks:
            kept = []
            for t0, c, pos0, d, v in self.tracks:
                here = pos0 + d * v * (now - t0)
                same = (
                    c == cluster
                    and d == direction
                    and abs(here - at) <= max(20.0, 2.0 * v)
                    and abs(v - v_new) <= max(2.0, 0.3 * v_new)
                )
                if not same:
                    kept.append((t0, c, pos0, d, v))
            self.tracks = kept
        self.tracks += self.new_tracks
        self.new_tracks = []

    def _follow_tracks(self, now: float) -> None:
        """Dead reckoning: each counted road user moves on at its speed; light around it."""
        alive = []
        for t0, cluster, pos0, direction, speed in self.tracks:
            pos = pos0 + direction * speed * (now - t0)
            length = self.site.clusters[cluster].length_m
            if now - t0 <= self.p.presence.track_s and 0.0 <= pos <= length:
                alive.append((t0, cluster, pos0, direction, speed))
                self._boost_at(now, cluster, pos, direction, speed)
        self.tracks = alive

    def _boost_at(self, now: float, cluster: int, at: float, direction: int, speed: float) -> None:
        reach = speed * self.p.presence.lead_s
        members = sorted(self.members[cluster], key=lambda m: m.pos)
        ahead = [m for m in members if (m.pos - at) * direction >= 0]
        if direction < 0:
            ahead.reverse()  # nearest first
        chosen = {id(m) for m in ahead[: self.p.presence.min_lamps_ahead]}
        for m in members:
            d = (m.pos - at) * direction
            if 0 <= d <= reach or -self.p.presence.behind_m <= d < 0 or id(m) in chosen:
                m.boost_until = max(m.boost_until, now + self.p.presence.hold_s)

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
        current_bin = math.floor(now / self.bin_s)
        for obs in observations:
            sensor = self.by_id.get(getattr(obs, "sensor", ""))
            if isinstance(obs, SensorCounts):
                if sensor is None or min((*obs.forward, *obs.backward)) < 0 or obs.interval_s <= 0:
                    continue
                sensor.last_seen = now
                if obs.total:
                    sensor.bins[current_bin] = sensor.bins.get(current_bin, 0.0) + obs.total
                if sum(obs.forward) > 0:
                    self._boost(now, sensor, 1, obs.forward, obs.mean_speed_mps)
                if sum(obs.backward) > 0:
                    self._boost(now, sensor, -1, obs.backward, obs.mean_speed_mps)
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
                if m.boost_until > now:
                    v = max(v, self.p.presence.level)
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
                min(cmd, m.level + self.p.ramp_up_per_s * dt), m.level - self.p.ramp_down_per_s * dt
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
