"""Hypothesis strategies: random small streets, policies and nights of observations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from hypothesis import strategies as st

from edge.control import (
    ClusterSpec,
    LampTable,
    LuxReading,
    NightParams,
    Observation,
    Override,
    PolicyParams,
    PresenceParams,
    SensorCounts,
    SensorFault,
    SensorSpec,
    SiteSpec,
)

#: 22:00 UTC in late November at 52 N: well inside the night.
NIGHT_T0 = datetime(2026, 11, 28, 22, 0, tzinfo=UTC).timestamp()

LADDERS = (("M3", "M4", "M5", "M6"), ("P3", "P4", "P5"), ("M2", "M3"), ("P4",), ("C2", "C3", "C5"))


@st.composite
def sites(draw: st.DrawFn, *, max_clusters: int = 3, max_lamps: int = 14) -> SiteSpec:
    clusters, sensors = [], []
    ids, cl_idx, pos, nom, floor, ceil, clo = [], [], [], [], [], [], []
    n_clusters = draw(st.integers(1, max_clusters))
    for k in range(n_clusters):
        n = draw(st.integers(1, max_lamps))
        spacing = draw(st.sampled_from([20.0, 30.0, 35.0, 40.0]))
        length = spacing * (n + 1)
        clusters.append(
            ClusterSpec(
                id=f"c{k}",
                length_m=length,
                speed_limit_mps=draw(st.sampled_from([30 / 3.6, 50 / 3.6, 80 / 3.6])),
                capacity_per_h=draw(st.sampled_from([300.0, 900.0, 1800.0])),
                ladder=draw(st.sampled_from(LADDERS)),
                two_way=draw(st.sampled_from([True, True, False])),
            )
        )
        for j in range(n):
            ids.append(f"c{k}-l{j}")
            cl_idx.append(k)
            pos.append(spacing * (j + 0.5))
            nom.append(draw(st.sampled_from([25.0, 60.0, 90.0])))
            f = draw(st.sampled_from([0.0, 0.2, 0.3, 0.5]))
            floor.append(f)
            ceil.append(draw(st.sampled_from([1.0, 1.0, 0.9])) if f < 0.9 else 1.0)
            clo.append(draw(st.sampled_from([1.0, 1.0, 0.85])))
        for s in range(draw(st.integers(0, 3))):
            sensors.append(
                SensorSpec(
                    id=f"c{k}-s{s}",
                    cluster=k,
                    # on the lamp grid at times: lit windows' edges then fall on lamps exactly
                    position_m=draw(
                        st.floats(0, length)
                        | st.sampled_from([spacing * j / 2 for j in range(2 * n + 3)])
                    ),
                    type=draw(st.sampled_from(["radar", "radar", "pir"])),
                )
            )
    table = LampTable.from_columns(
        ids=ids, cluster=cl_idx, position_m=pos, nominal_w=nom, floor=floor, ceiling=ceil, clo=clo
    )
    return SiteSpec(clusters=tuple(clusters), sensors=tuple(sensors), lamps=table)


@st.composite
def policies(draw: st.DrawFn, *, lux: bool = False) -> PolicyParams:
    return PolicyParams(
        tick_s=1.0,
        flow_window_s=draw(st.sampled_from([60.0, 120.0, 900.0])),
        flow_bins=draw(st.sampled_from([1, 4, 15])),
        class_hysteresis=draw(st.sampled_from([0.0, 0.2, 0.5])),
        presence=PresenceParams(
            enabled=draw(st.sampled_from([True, True, True, False])),
            m_steps_up=draw(st.integers(0, 2)),
            pc_level=draw(st.sampled_from([1.0, 0.8])),
            lead_s=draw(st.sampled_from([0.0, 4.0, 8.0])),
            min_lamps_ahead=draw(st.integers(0, 4)),
            behind_m=draw(st.sampled_from([0.0, 30.0])),
            hold_s=draw(st.sampled_from([0.0, 5.0, 30.0])),
            track_s=draw(st.sampled_from([0.0, 5.0, 60.0])),
            speed_spread=draw(st.sampled_from([0.0, 0.12, 0.3])),
            entry_s=draw(st.sampled_from([0.0, 3.0, 10.0])),
        ),
        ramp_up_per_s=draw(st.sampled_from([1.0, 0.5, 2.0])),
        ramp_down_per_s=draw(st.sampled_from([0.02, 0.2])),
        stale_s=draw(st.sampled_from([20.0, 300.0])),
        deadband=draw(st.sampled_from([0.0, 0.02, 0.05])),
        lease_s=60.0,
        lease_refresh_s=draw(st.sampled_from([10.0, 30.0])),
        night=NightParams(
            latitude=52.09,
            longitude=5.12,
            timezone="Europe/Amsterdam",
            mode="lux" if lux else "sun",
            lux_sensor="lux-1" if lux else None,
        ),
    )


@dataclass(frozen=True)
class Tick:
    dt: float
    observations: tuple[Observation, ...]
    override: Override | None = None
    clear: str | None = None


@st.composite
def nights(
    draw: st.DrawFn, site: SiteSpec, *, lux: bool = False, max_ticks: int = 40
) -> list[Tick]:
    sensor_ids = [s.id for s in site.sensors] + ["ghost-sensor"]
    targets = ["all", *(c.id for c in site.clusters), *site.lamps.ids[:5]]
    ticks = []
    t = 0.0
    for n in range(draw(st.integers(1, max_ticks))):
        # a long first tick can warm the flow window up, so that classes dim and presence
        # boosts show above the class level
        # (0.05: a step between ticks, for a road user just counted)
        steps = [1.0, 1.0, 1.0, 0.5, 0.05, 2.0, 7.0, 45.0]
        dt = draw(st.sampled_from(steps + [120.0, 900.0] * (n == 0)))
        t += dt
        obs: list[Observation] = []
        for _ in range(draw(st.integers(0, 3))):
            sid = draw(st.sampled_from(sensor_ids))
            kind = draw(st.integers(0, 9))
            if kind < 7:
                fwd = tuple(draw(st.integers(0, 2)) for _ in range(3))
                bwd = tuple(draw(st.integers(0, 2)) for _ in range(3))
                speed = draw(st.none() | st.floats(0.5, 30.0) | st.sampled_from([2.5, 5.0, 10.0]))
                obs.append(
                    SensorCounts(
                        sensor=sid, interval_s=dt, forward=fwd, backward=bwd, mean_speed_mps=speed
                    )
                )
            elif kind < 9:
                obs.append(SensorFault(sensor=sid, faulty=draw(st.booleans())))
            elif lux:
                obs.append(
                    LuxReading(sensor="lux-1", lux=draw(st.sampled_from([1.0, 30.0, 100.0])))
                )
        override = None
        clear = None
        roll = draw(st.integers(0, 19))
        if roll == 0:
            override = Override(
                id=f"o{draw(st.integers(0, 2))}",
                target=draw(st.sampled_from(targets)),
                op=draw(st.sampled_from(["set", "max", "min"])),
                level=draw(st.sampled_from([0.0, 0.2, 0.5, 0.8, 1.0])),
                expires_at=NIGHT_T0 + t + draw(st.sampled_from([3.0, 30.0, 600.0])),
                allow_dark=draw(st.booleans()),
            )
        elif roll == 1:
            clear = draw(st.sampled_from([*targets, "o0", "o1"]))
        ticks.append(Tick(dt=dt, observations=tuple(obs), override=override, clear=clear))
    return ticks


def small_site(lamps: int = 10, spacing: float = 30.0) -> SiteSpec:
    """One M-class road with a sensor at each end: for example-based tests."""
    length = spacing * lamps
    table = LampTable.from_columns(
        ids=[f"l{j}" for j in range(lamps)],
        cluster=[0] * lamps,
        position_m=[spacing * (j + 0.5) for j in range(lamps)],
        nominal_w=[60.0] * lamps,
        floor=[0.3] * lamps,
        ceiling=[1.0] * lamps,
    )
    road = ClusterSpec(id="road", length_m=length, speed_limit_mps=50 / 3.6,
                       capacity_per_h=1200.0, ladder=("M3", "M4", "M5", "M6"))  # fmt: skip
    sensors = (
        SensorSpec(id="west", cluster=0, position_m=0.0),
        SensorSpec(id="east", cluster=0, position_m=length),
    )
    return SiteSpec(clusters=(road,), sensors=sensors, lamps=table)
