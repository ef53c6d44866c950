"""Run a night: traffic -> sensors -> the real control core -> leases -> lamp nodes, in virtual
time, scoring energy against both baselines and safety for every road user."""

from __future__ import annotations

import dataclasses
import difflib
import time as wallclock
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import astral
import astral.sun
import numpy as np
import numpy.typing as npt

from edge.config import SiteConfig
from edge.control import DimmingController, PresenceParams
from edge.errors import ConfigError, ConfigIssue, UnknownIdError
from edge.site import policy_params, profiles_from_config, site_spec
from simulator.kpis import night_kpis
from simulator.scenario import Scenario
from simulator.street import LampNodes, SensorBank
from simulator.traffic import DEFAULT_PROFILE, Arrivals, generate_arrivals

__all__ = ["NightWindow", "SimResult", "night_window", "simulate"]

PRESENCE_MARGIN = 0.05
SERIES_S = 60.0  # resolution of the per-cluster series for plots
SPACE_TIME_S = 1800.0  # length of the space-time picture


@dataclass(frozen=True)
class NightWindow:
    start: float
    end: float
    sunset: float
    sunrise: float


def night_window(site: SiteConfig, day: date, margin_s: float = 900.0) -> NightWindow:
    """From ``margin_s`` before sunset on ``day`` to ``margin_s`` after sunrise the next day."""
    tz = ZoneInfo(site.site.timezone)
    obs = astral.Observer(site.site.latitude, site.site.longitude, site.site.elevation_m)
    try:
        sunset = astral.sun.sunset(obs, day, tzinfo=tz).timestamp()
        sunrise = astral.sun.sunrise(obs, day + timedelta(days=1), tzinfo=tz).timestamp()
    except ValueError:  # polar day or night: simulate 18:00 to 06:00 local
        sunset = datetime.combine(day, datetime.min.time(), tz).timestamp() + 18 * 3600
        sunrise = sunset + 12 * 3600
    return NightWindow(sunset - margin_s, sunrise + margin_s, sunset, sunrise)


@dataclass
class SimResult:
    """KPIs, plus the series a report draws."""

    kpis: dict[str, Any]
    cluster_ids: list[str]
    series_t: npt.NDArray[np.float64]
    series_level: npt.NDArray[np.float64]  # (T', C) mean node output
    series_power: npt.NDArray[np.float64]  # (T', C) W
    series_traffic: npt.NDArray[np.float64]  # (T', C) road users entering per minute
    space_time: npt.NDArray[np.float32]  # (ticks in the picture, lamps of its cluster)
    space_time_cluster: str = ""
    space_time_length_m: float = 0.0
    space_time_t: tuple[float, float] = (0.0, 0.0)
    trajectories: list[tuple[float, float, int, float]] = field(default_factory=list)
    record: dict[str, Any] | None = None


def _policy(site: SiteConfig, presence: bool) -> Any:
    params = policy_params(site)
    if not presence:  # the broken policy, for comparison: no presence boost at all
        off = PresenceParams(
            level=params.presence.level,
            lead_s=0.0,
            min_lamps_ahead=0,
            behind_m=0.0,
            hold_s=0.0,
            track_s=0.0,
        )
        params = dataclasses.replace(params, presence=off)
    return params


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
) -> SimResult:
    """Simulate one night of ``site`` (sunset of ``day`` to sunrise) at the configured tick."""
    began = wallclock.perf_counter()
    window = night_window(site, day)
    tick = site.controller.tick_s
    n_ticks = int((window.end - window.start) / tick)
    spec = site_spec(site)
    params = _policy(site, presence)
    ctrl = DimmingController(
        site=spec, params=params, start=window.start, profiles=profiles_from_config(site)
    )
    if arrivals is None:
        profile = tuple(scenario.profile) if scenario.profile else DEFAULT_PROFILE
        arrivals = generate_arrivals(
            site,
            start=window.start,
            duration_s=n_ticks * tick,
            seed=seed,
            scale=scenario.traffic_scale,
            cluster_scale=scenario.cluster_scale,
            profile=profile,
        )
    rng = np.random.default_rng(seed + 1)
    sensors = SensorBank(site=spec, rng=rng)
    lamps_t = spec.lamps
    nodes = LampNodes(nominal_w=lamps_t.nominal_w.copy(), curve=ctrl.energy.curve)
    _apply_faults(scenario, site, window, sensors, nodes, ctrl)
    geo = ctrl._geometry
    lengths = np.array([c.length_m for c in spec.clusters])
    need = (np.minimum(params.presence.level, lamps_t.ceiling) - PRESENCE_MARGIN) * lamps_t.clo

    n_users = len(arrivals)
    pos = np.zeros(0)
    active = np.zeros(0, dtype=np.intp)  # user ids on the road
    below_s = np.zeros(n_users)
    night_s = np.zeros(n_users)
    detect_t = np.full(n_users, np.inf)
    lit_t = np.full(n_users, np.nan)
    next_arrival = 0
    n_c = len(spec.clusters)
    per_series = max(1, int(SERIES_S / tick))
    n_series = n_ticks // per_series + 1
    s_level = np.zeros((n_series, n_c))
    s_power = np.zeros((n_series, n_c))
    s_traffic = np.zeros((n_series, n_c))
    starts = np.searchsorted(lamps_t.cluster, np.arange(n_c))
    counts_c = np.bincount(lamps_t.cluster, minlength=n_c).astype(np.float64)
    st_cluster = int(np.argmax(counts_c * np.array([c.speed_limit_mps for c in spec.clusters])))
    st_slice = ctrl.cluster_slice(st_cluster)
    st_order = np.argsort(lamps_t.position_m[st_slice], kind="stable") + st_slice.start
    # the space-time picture: 30 minutes at full resolution, from an hour after midnight-ish
    st_from = window.start + 0.6 * (window.end - window.start)
    st_to = st_from + SPACE_TIME_S
    st_rows: list[np.ndarray] = []
    rec_level = np.zeros((n_ticks, len(lamps_t)), dtype=np.float32) if record else None
    rec_power = np.zeros((n_ticks, len(lamps_t)), dtype=np.float32) if record else None
    failsafe_cluster_s = 0.0
    night_total_s = 0.0
    trajectories: list[tuple[float, float, int, float]] = []

    for i in range(n_ticks):
        now = window.start + (i + 1) * tick
        rel = now - window.start
        # road users enter
        stop = int(arrivals.t_s.searchsorted(rel, side="right"))
        if stop > next_arrival:
            new = np.arange(next_arrival, stop)
            entry = np.where(arrivals.direction[new] > 0, 0.0, lengths[arrivals.cluster[new]])
            late = rel - arrivals.t_s[new]  # entered during this tick: already moved a bit
            entry = entry + arrivals.direction[new] * arrivals.speed_mps[new] * late
            np.add.at(s_traffic[i // per_series], arrivals.cluster[new], 1.0)
            for u in new.tolist():
                t_in = window.start + arrivals.t_s[u]
                t_out = t_in + lengths[st_cluster] / arrivals.speed_mps[u]
                if arrivals.cluster[u] == st_cluster and t_out >= st_from and t_in < st_to:
                    trajectories.append(
                        (
                            float(window.start + arrivals.t_s[u]),
                            float(0.0 if arrivals.direction[u] > 0 else lengths[st_cluster]),
                            int(arrivals.direction[u]),
                            float(arrivals.speed_mps[u]),
                        )
                    )
            prev_new = np.where(
                arrivals.direction[new] > 0, -1e-9, lengths[arrivals.cluster[new]] + 1e-9
            )
            sensors.detect(
                now,
                prev_new,
                entry,
                arrivals.cluster[new],
                arrivals.direction[new],
                arrivals.kind[new],
                arrivals.speed_mps[new],
                new,
                detect_t,
            )
            pos = np.concatenate((pos, entry))
            active = np.concatenate((active, new))
            next_arrival = stop
        # road users move on (the ones that just entered moved already)
        if len(active):
            prev = pos
            cl, dirn = arrivals.cluster[active], arrivals.direction[active]
            speed = arrivals.speed_mps[active]
            entered_now = arrivals.t_s[active] > rel - tick
            pos = prev + np.where(entered_now, 0.0, dirn * speed * tick)
            sensors.detect(now, prev, pos, cl, dirn, arrivals.kind[active], speed, active, detect_t)
            on_road = (pos >= 0.0) & (pos <= lengths[cl])
            if not on_road.all():
                active, pos = active[on_road], pos[on_road]
        batch = sensors.collect(now, tick)
        result = ctrl.step(now, [batch] if batch is not None else [])
        if len(result.send):
            nodes.apply(now, result.send, result.send_levels, result.lease_s)
        nodes.tick(now, tick)
        if result.night:
            night_total_s += tick
            failsafe_cluster_s += float(ctrl.cluster_failsafe.sum()) * tick
            if len(active):
                near = geo.nearest(arrivals.cluster[active], pos)
                ok = near >= 0
                lit = np.zeros(len(active), dtype=bool)
                lit[ok] = nodes.output[near[ok]] >= need[near[ok]] - 1e-9
                night_s[active] += tick
                below_s[active[~lit]] += tick
                heard = detect_t[active] <= now
                newly = active[lit & heard & np.isnan(lit_t[active])]
                lit_t[newly] = now
        k = i // per_series
        if i % per_series == 0:
            s_level[k] = np.add.reduceat(nodes.output, starts) / np.maximum(counts_c, 1)
            s_power[k] = np.add.reduceat(nodes.power_w, starts)
        if st_from <= now < st_to:
            st_rows.append(nodes.output[st_order].astype(np.float32))
        if rec_level is not None and rec_power is not None:
            rec_level[i] = nodes.commanded
            rec_power[i] = nodes.power_w
        if progress is not None and i % 600 == 0:
            progress((i + 1) / n_ticks)
    if progress is not None:
        progress(1.0)

    kpis = night_kpis(
        site,
        ctrl,
        nodes,
        window,
        n_ticks,
        tick,
        night_s,
        below_s,
        detect_t,
        lit_t,
        failsafe_cluster_s,
        night_total_s,
        seed,
        scenario,
        began,
        day,
    )
    rec = None
    if rec_level is not None and rec_power is not None:
        rec = {
            "t": (np.arange(1, n_ticks + 1) * tick).astype(np.float64),
            "lamp_ids": np.array(lamps_t.ids),
            "cluster_ids": np.array([spec.clusters[k].id for k in lamps_t.cluster]),
            "position_m": lamps_t.position_m.copy(),
            "level": rec_level,
            "power_w": rec_power,
        }
    return SimResult(
        kpis=kpis,
        cluster_ids=[c.id for c in spec.clusters],
        series_t=(window.start + np.arange(n_series) * per_series * tick).astype(np.float64),
        series_level=s_level,
        series_power=s_power,
        series_traffic=s_traffic,
        space_time=np.array(st_rows, dtype=np.float32).reshape(len(st_rows), len(st_order)),
        space_time_t=(st_from, st_from + len(st_rows) * tick),
        space_time_cluster=spec.clusters[st_cluster].id,
        space_time_length_m=float(lengths[st_cluster]),
        trajectories=trajectories,
        record=rec,
    )


def _apply_faults(
    scenario: Scenario,
    site: SiteConfig,
    window: NightWindow,
    sensors: SensorBank,
    nodes: LampNodes,
    ctrl: DimmingController,
) -> None:
    tz = ZoneInfo(site.site.timezone)
    start_local = datetime.fromtimestamp(window.start, tz)
    problems = []
    for i, fault in enumerate(scenario.faults):
        if fault.kind.startswith("sensor") and fault.sensor not in sensors.ids:
            close = difflib.get_close_matches(str(fault.sensor), sensors.ids, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            message = f"unknown sensor {fault.sensor!r}{hint}"
            problems.append(ConfigIssue(f"faults[{i}].sensor", message))
        if fault.kind.startswith(("lamp", "day")):
            try:
                ctrl.lamp_index(str(fault.lamp))
            except UnknownIdError as exc:
                problems.append(ConfigIssue(f"faults[{i}].lamp", str(exc)))
    if problems:
        raise ConfigError(scenario.source or scenario.name, problems)
    for fault in scenario.faults:
        if fault.at is None:
            at = window.start
        else:
            when = datetime.combine(start_local.date(), fault.at, tz)
            if when < start_local:
                when += timedelta(days=1)
            at = when.timestamp()
        if fault.kind.startswith("sensor"):
            sensors.set_fault(fault.kind, sensors.index(str(fault.sensor)), at,
                              delay_s=fault.delay_s, rate_per_h=fault.rate_per_h)  # fmt: skip
        else:
            j = ctrl.lamp_index(str(fault.lamp))
            if fault.kind == "lamp_failure":
                nodes.set_failure(j, at)
            else:
                nodes.set_day_burner(j, at)
