"""Run a night: traffic -> sensors -> the real control core -> leases -> lamp nodes, in virtual
time, scoring energy against the baselines and every road user against the requirement."""

from __future__ import annotations

import difflib
import time as wallclock
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.config import SiteConfig
from edge.control import DimmingController
from edge.errors import ConfigError, ConfigIssue, UnknownIdError
from edge.site import CoreSite
from simulator.kpis import energy_kpis
from simulator.lamps import LampNodes
from simulator.nearest import nearest_lamps
from simulator.requirement import RequirementScorer
from simulator.scenario import Scenario
from simulator.street import SensorBank
from simulator.traffic import Arrivals, generate_arrivals
from simulator.users import RoadUsers
from simulator.window import NightWindow, night_window

__all__ = [
    "ControllerFactory",
    "NightWindow",
    "SimResult",
    "night_window",
    "simulate",
    "simulate_side_by_side",
]

SERIES_S = 60.0  # resolution of the per-cluster series for plots
SPACE_TIME_S = 1800.0  # length of the space-time picture

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass
class SimResult:
    """KPIs, plus the series a report draws."""

    kpis: dict[str, Any]
    window: NightWindow
    cluster_ids: list[str]
    series_t: FloatArray
    series_level: FloatArray  # (T', C) mean node output
    series_power: FloatArray  # (T', C) W
    series_traffic: FloatArray  # (T', C) road users coming on per minute
    space_time: npt.NDArray[np.float32]  # (ticks in the picture, lamps of its cluster)
    space_time_cluster: str = ""
    space_time_length_m: float = 0.0
    space_time_t: tuple[float, float] = (0.0, 0.0)
    # road users on the picture's road: (time, position) of each one, tick by tick
    trajectories: list[FloatArray] = field(default_factory=list)
    # per road user counted at night: seconds from the count to the requirement met
    latencies: FloatArray = field(default_factory=lambda: np.zeros(0))
    record: dict[str, Any] | None = None


#: Builds the controller a night runs (site, start): another policy to compare, such as
#: an earlier revision's control core; it must step and keep energy as DimmingController.
ControllerFactory = Callable[[SiteConfig, float], Any]


class _Night:
    """Nights of a site, side by side as replicas of it (one night alone: one replica), each
    replica's street, and its share of one controller, advanced one tick at a time. Replica
    r's clock runs ``offsets[r]`` ahead of the shared one, so each night starts at its own
    sunset; its figures are taken when its night ends."""

    def __init__(
        self, site: SiteConfig, *, scenario: Scenario, days: list[date], seed: int,
        arrivals: Arrivals | None, record: bool, presence: bool,
        controller: ControllerFactory | None = None, span_s: float | None = None,
    ) -> None:  # fmt: skip
        self.site, self.scenario, self.seed = site, scenario, seed
        windows = [night_window(site, day) for day in days]
        self.windows = [w if span_s is None else w.first(span_s) for w in windows]
        self.window = window = self.windows[0]
        self.tick_s = tick = site.controller.tick_s
        self.ticks = [int((w.end - w.start) / tick) for w in self.windows]
        self.n_ticks = max(self.ticks)
        self.replicas = n_rep = len(days)
        self.offsets = np.array([w.start - window.start for w in self.windows])
        self._sunset = np.array([w.sunset for w in self.windows]) - self.offsets
        self._sunrise = np.array([w.sunrise for w in self.windows]) - self.offsets
        core = CoreSite.of(site)
        base = core.spec
        self.per_replica = len(base.clusters)
        if controller is not None:
            self.ctrl: DimmingController = controller(site, window.start)
        else:
            core = core if presence else core.without_presence()
            self.ctrl = core.controller(start=window.start, replicas=self.offsets.tolist())
        self.spec = spec = self.ctrl.site  # with replicas, the controller's tiled street
        if arrivals is None:
            model = scenario.traffic_model()
            nights = [generate_arrivals(site, start=w.start, duration_s=n * tick, seed=seed,
                                        model=model)
                      for w, n in zip(self.windows, self.ticks, strict=True)]  # fmt: skip
        else:
            nights = [arrivals]
        self.arrivals, user_key = Arrivals.side_by_side(nights, self.per_replica)
        arrivals = self.arrivals
        self.lengths = np.array([c.length_m for c in spec.clusters])
        self.users = RoadUsers(arrivals, self.lengths)
        self.sensors = SensorBank(site=spec, seed=seed + 1, model=scenario.sensor_model(),
                                  users=len(arrivals), replicas=n_rep,
                                  user_key=user_key)  # fmt: skip
        lamps = spec.lamps
        self.nodes = LampNodes(nominal_w=lamps.nominal_w.copy(), curve=self.ctrl.energy.curve,
                               replicas=n_rep)  # fmt: skip
        _check_faults(scenario, [sensor.id for sensor in base.sensors], list(base.lamps.ids))
        for r, w in enumerate(self.windows):
            suffix = f"@{r}" if n_rep > 1 else ""
            _apply_faults(scenario, w, self.offsets[r], suffix, self.sensors, self.nodes,
                          self.ctrl)  # fmt: skip
        self.nearest = nearest_lamps(spec)
        self.scorer = RequirementScorer(site=base, entry_s=arrivals.t_s,
                                        entry_cluster=arrivals.cluster,
                                        replicas=n_rep)  # fmt: skip
        self.night_s, self.failsafe_cluster_s = np.zeros(n_rep), np.zeros(n_rep)
        # each night's energy, baselines and lamp-seconds without a lease, when it ended
        self.ended: list[dict[str, float]] = [{} for _ in range(n_rep)]
        self._ending: dict[int, list[int]] = {}  # after how many ticks: the nights that end
        for r, n in enumerate(self.ticks):
            self._ending.setdefault(n, []).append(r)
        self._running = np.asarray(self.ticks)
        self._pictured = n_rep == 1
        n_c = len(spec.clusters)
        self.per_series = max(1, int(SERIES_S / tick))
        n_series = self.n_ticks // self.per_series + 1 if self._pictured else 0
        self.s_level, self.s_power, self.s_traffic = (np.zeros((n_series, n_c)) for _ in range(3))
        self.starts = np.searchsorted(lamps.cluster, np.arange(n_c))
        self.counts_c = np.bincount(lamps.cluster, minlength=n_c).astype(np.float64)
        # the space-time picture: the busiest-looking road, 30 minutes from 60 % of the night
        speeds = np.array([c.speed_limit_mps for c in spec.clusters])
        self.st_cluster = int(np.argmax(self.counts_c * speeds)) if n_c else 0
        sl = self.ctrl.cluster_slice(self.st_cluster) if n_c else slice(0, 0)
        self.st_order = np.argsort(lamps.position_m[sl], kind="stable") + sl.start
        self.st_from = window.start + 0.6 * (window.end - window.start)
        if not self._pictured:
            self.st_from = np.inf
        self.st_rows: list[npt.NDArray[np.float32]] = []
        self.tracks: dict[int, list[tuple[float, float]]] = {}
        n = len(lamps)
        self.rec_level = np.zeros((self.n_ticks, n), dtype=np.float32) if record else None
        self.rec_power = np.zeros((self.n_ticks, n), dtype=np.float32) if record else None

    def tick(self, i: int) -> None:
        """Road users move and are counted, the controller steps, lamps follow, scores."""
        rel = (i + 1) * self.tick_s
        now = self.window.start + rel
        entered = self.users.entered
        moves = self.users.advance(rel, self.tick_s)
        a = self.arrivals
        if self._pictured and self.users.entered > entered:
            came = a.cluster[entered : self.users.entered]
            np.add.at(self.s_traffic[i // self.per_series], came, 1)
        u = moves.users
        self.sensors.detect(now, self.window.start + moves.since, moves.prev, moves.new,
                            a.cluster[u], a.direction[u], a.kind[u], a.speed_mps[u], u)  # fmt: skip
        batch = self.sensors.collect(now, self.tick_s)
        result = self.ctrl.step(now, [batch] if batch is not None else [])
        if len(result.send):
            self.nodes.apply(now, result.send, result.send_levels, result.lease_s)
        self.nodes.tick(now, self.tick_s)
        # scored between sunset and sunrise whatever the policy thinks is night (its offsets
        # and lux switching are its own settings), each night until it ends
        dark = (self._sunset < now) & (now <= self._sunrise)
        if self.replicas > 1:
            dark &= i < self._running
        if dark.any():
            self._score(now, rel, dark)
        if self._pictured:
            self._pictures(i, now)
        for r in self._ending.get(i + 1, ()):
            self._ended(r)

    def _ended(self, r: int) -> None:
        """Night ``r`` is over: its energy, baselines and lamp-seconds without a lease."""
        ctrl, roads = self.ctrl, slice(r * self.per_replica, (r + 1) * self.per_replica)
        self.ended[r] = {
            "energy_wh": float(self.nodes.replica_energy_wh[r]),
            "full_wh": float(ctrl.baseline_full_wh[roads].sum()),
            "schedule_wh": float(ctrl.baseline_schedule_wh[roads].sum()),
            "reference_wh": float(ctrl.baseline_reference_wh[roads].sum()),
            "failsafe_lamp_s": float(self.nodes.replica_failsafe_s[r]),
        }

    def _score(self, now: float, rel: float, dark: npt.NDArray[np.bool_]) -> None:
        self.night_s += dark * self.tick_s
        failsafe = self.ctrl.cluster_failsafe
        if failsafe.any():
            per_night = failsafe.reshape(self.replicas, -1).sum(axis=1)
            self.failsafe_cluster_s += dark * (per_night * self.tick_s)
        users, cluster, pos = self.users.active, self.users.cluster, self.users.pos
        if self.replicas > 1 and not dark.all():
            scored = dark[cluster // self.per_replica]
            users, cluster, pos = users[scored], cluster[scored], pos[scored]
        if not len(users):
            return
        near = self.nearest(cluster, pos)
        clo = self.spec.lamps.clo
        light = np.where(near >= 0, self.nodes.output[near] / clo[near], 0.0)
        self.scorer.score(now, rel, self.tick_s, users, cluster, light, self.sensors.seen_at)

    def _pictures(self, i: int, now: float) -> None:
        nodes, k = self.nodes, i // self.per_series
        if i % self.per_series == 0:
            self.s_level[k] = np.add.reduceat(nodes.output, self.starts) / np.maximum(
                self.counts_c, 1
            )
            self.s_power[k] = np.add.reduceat(nodes.power_w, self.starts)
        if self.st_from <= now < self.st_from + SPACE_TIME_S:
            self.st_rows.append(nodes.output[self.st_order].astype(np.float32))
            mine = self.users.cluster == self.st_cluster
            for u, p in zip(self.users.active[mine].tolist(), self.users.pos[mine].tolist(),
                            strict=True):  # fmt: skip
                self.tracks.setdefault(u, []).append((now, p))
        if self.rec_level is not None and self.rec_power is not None:
            self.rec_level[i] = nodes.commanded
            self.rec_power[i] = nodes.power_w

    def kpis(self, r: int, wall_s: float) -> dict[str, Any]:
        """Night ``r``'s figures: energy against the baselines, safety, fail-safe time."""
        window, ended = self.windows[r], self.ended[r]
        return {
            "site": self.site.gateway_id,
            "scenario": self.scenario.name,
            "date": window.day.isoformat(),
            "seed": self.seed,
            "night": {
                "start": window.local(window.start).isoformat(timespec="minutes"),
                "end": window.local(window.end).isoformat(timespec="minutes"),
                "dark_hours": round(float(self.night_s[r]) / 3600.0, 2),
            },
            "ticks": self.ticks[r],
            "tick_s": self.tick_s,
            "lamps": len(self.spec.lamps) // self.replicas,
            **energy_kpis(
                self.site,
                ended["energy_wh"] / 1000.0,
                full=ended["full_wh"] / 1000.0,
                sched=ended["schedule_wh"] / 1000.0,
                ref=ended["reference_wh"] / 1000.0,
            ),
            "safety": self.scorer.kpis(self.sensors.seen_at, r),
            "failsafe": {
                "cluster_hours": round(float(self.failsafe_cluster_s[r]) / 3600.0, 3),
                "lamp_node_hours_without_lease": round(ended["failsafe_lamp_s"] / 3600.0, 3),
            },
            "wall_s": round(wall_s, 2),
        }

    def result(self, kpis: dict[str, Any]) -> SimResult:
        spec, tick = self.spec, self.tick_s
        rec = None
        if self.rec_level is not None and self.rec_power is not None:
            lamps = spec.lamps
            rec = {
                "t": (np.arange(1, self.n_ticks + 1) * tick).astype(np.float64),
                "lamp_ids": np.array(lamps.ids),
                "cluster_ids": np.array([spec.clusters[k].id for k in lamps.cluster]),
                "position_m": lamps.position_m.copy(),
                "level": self.rec_level,
                "power_w": self.rec_power,
            }
        n_series = len(self.s_level)
        window = self.window
        return SimResult(
            kpis=kpis,
            window=window,
            cluster_ids=[c.id for c in spec.clusters],
            series_t=(
                window.start + np.arange(n_series, dtype=np.float64) * self.per_series * tick
            ),
            series_level=self.s_level,
            series_power=self.s_power,
            series_traffic=self.s_traffic,
            space_time=np.array(self.st_rows, dtype=np.float32).reshape(
                len(self.st_rows), len(self.st_order)
            ),
            space_time_t=(self.st_from, self.st_from + len(self.st_rows) * tick),
            space_time_cluster=spec.clusters[self.st_cluster].id,
            space_time_length_m=float(self.lengths[self.st_cluster]),
            trajectories=[np.array(points) for points in self.tracks.values()],
            latencies=self.scorer.latencies(self.sensors.seen_at, 0),
            record=rec,
        )


def simulate(
    site: SiteConfig,
    *,
    scenario: Scenario,
    day: date,
    seed: int,
    arrivals: Arrivals | None = None,
    record: bool = False,
    presence: bool = True,
    progress: Callable[[float], None] | None = None,
    controller: ControllerFactory | None = None,
    span_s: float | None = None,
) -> SimResult:
    """Simulate one night of ``site`` (sunset of ``day`` to sunrise) at the configured tick,
    with its own policy (or ``controller``'s); with ``span_s``, only its first seconds."""
    began = wallclock.perf_counter()
    night = _Night(site, scenario=scenario, days=[day], seed=seed, arrivals=arrivals,
                   record=record, presence=presence, controller=controller,
                   span_s=span_s)  # fmt: skip
    _run(night, progress)
    return night.result(night.kpis(0, wallclock.perf_counter() - began))


def simulate_side_by_side(
    site: SiteConfig,
    *,
    scenario: Scenario,
    days: list[date],
    seed: int,
    presence: bool = True,
    progress: Callable[[float], None] | None = None,
    span_s: float | None = None,
) -> list[tuple[dict[str, Any], FloatArray]]:
    """Several nights of ``site`` at once, as replicas of it through one controller: each
    night's KPIs and latencies, the same as ``simulate`` gives for it alone (its wall time
    is its share of the run's)."""
    began = wallclock.perf_counter()
    night = _Night(site, scenario=scenario, days=days, seed=seed, arrivals=None, record=False,
                   presence=presence, span_s=span_s)  # fmt: skip
    _run(night, progress)
    share = (wallclock.perf_counter() - began) / len(days)
    seen_at = night.sensors.seen_at
    return [(night.kpis(r, share), night.scorer.latencies(seen_at, r)) for r in range(len(days))]


def _run(night: _Night, progress: Callable[[float], None] | None) -> None:
    for i in range(night.n_ticks):
        night.tick(i)
        if progress is not None and i % 600 == 0:
            progress((i + 1) / night.n_ticks)
    if progress is not None:
        progress(1.0)


def _check_faults(scenario: Scenario, sensor_ids: list[str], lamp_ids: list[str]) -> None:
    """Every fault names a sensor or lamp of the site (ConfigError naming each that does not)."""
    problems = []
    for i, fault in enumerate(scenario.faults):
        sensor = fault.kind.startswith("sensor")
        kind, ident = ("sensor", fault.sensor) if sensor else ("lamp", fault.lamp)
        known = sensor_ids if sensor else lamp_ids
        if ident not in known:
            close = difflib.get_close_matches(str(ident), known, n=3)
            issue = UnknownIdError(kind, str(ident), close)
            problems.append(ConfigIssue(f"faults[{i}].{kind}", str(issue)))
    if problems:
        raise ConfigError(scenario.source or scenario.name, problems)


def _apply_faults(
    scenario: Scenario,
    window: NightWindow,
    offset: float,
    suffix: str,
    sensors: SensorBank,
    nodes: LampNodes,
    ctrl: DimmingController,
) -> None:
    """The scenario's faults on one night: its window, its clock ``offset`` ahead of the
    run's, its sensors' and lamps' ids ending in ``suffix`` (a replica's)."""
    for fault in scenario.faults:
        at = (window.start if fault.at is None else window.at(fault.at)) - offset
        if fault.kind.startswith("sensor"):
            sensors.set_fault(fault.kind, sensors.index(f"{fault.sensor}{suffix}"), at,
                              delay_s=fault.delay_s, rate_per_h=fault.rate_per_h)  # fmt: skip
        else:
            j = ctrl.lamp_index(f"{fault.lamp}{suffix}")
            if fault.kind == "lamp_failure":
                nodes.set_failure(j, at)
            else:
                nodes.set_day_burner(j, at)
