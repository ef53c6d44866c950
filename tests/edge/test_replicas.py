"""Replicas: the street run several times side by side, each replica's calendar its own
(another night, another weekday), must light each replica exactly as a controller of its own
would."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np

from edge.config import load_config
from edge.control import Override, Profile, SensorCounts
from edge.control._night import NightClock
from edge.site import CoreSite
from tests.conftest import EXAMPLE

SPAN_S = 1200  # 20 minutes, a step a second


def _starts(core: CoreSite) -> list[float]:
    """Where each replica's 20 minutes begin: across lights-on, across lights-off, across
    a Friday-only profile's start on a Friday, the same minutes on a Saturday, and across
    the spring's clock change into a profile's start."""
    clock = NightClock(core.params.night)
    tz = ZoneInfo(core.params.night.timezone)
    on, _, _ = clock.sun_times(date(2026, 3, 2))
    _, off, _ = clock.sun_times(date(2026, 7, 14))
    assert on is not None
    assert off is not None
    friday = datetime.combine(date(2026, 10, 2), time(22, 50), tz).timestamp()
    saturday = datetime.combine(date(2026, 10, 3), time(22, 50), tz).timestamp()
    spring = datetime.combine(date(2026, 3, 29), time(1, 55), tz).timestamp()  # 02:00 -> 03:00
    return [round(on) - 600.0, round(off) - 600.0, friday, saturday, spring]


def _observations(rng: np.random.Generator, sensors: list[str]) -> list[SensorCounts]:
    """A few counts this second, on random sensors (a keep-alive from the rest now and then)."""
    out = []
    for s in sensors:
        if rng.uniform() < 0.03:
            fwd = tuple(int(x) for x in rng.integers(0, 3, size=3))
            out.append(SensorCounts(sensor=s, interval_s=1.0, forward=fwd,
                                    mean_speed_mps=float(rng.uniform(1.0, 14.0))))  # fmt: skip
        elif rng.uniform() < 0.1:
            out.append(SensorCounts(sensor=s, interval_s=1.0))
    return out


def test_each_replica_is_lit_as_a_controller_of_its_own() -> None:
    core = CoreSite.of(load_config(EXAMPLE))
    friday_only = Profile(id="friday-late", target="residential", op="min", level=0.3,
                          start_min=23 * 60, end_min=2 * 60, days=frozenset({4}))  # fmt: skip
    everywhere = Profile(id="late", target="all", op="max", level=0.9, start_min=22 * 60 + 55,
                         end_min=23 * 60 + 5)  # fmt: skip
    early = Profile(id="early", target="cyclepath", op="min", level=0.25, start_min=3 * 60,
                    end_min=4 * 60)  # fmt: skip
    core = dataclasses.replace(core, profiles=(*core.profiles, friday_only, everywhere, early))
    starts = _starts(core)
    n_rep = len(starts)
    base = starts[0]
    together = core.controller(start=base, replicas=[s - base for s in starts])
    alone = [core.controller(start=s) for s in starts]
    n = len(core.spec.lamps)
    sensors = [s.id for s in core.spec.sensors]
    rngs = [np.random.default_rng(r) for r in range(n_rep)]
    switches, ends = [0] * n_rep, 0
    for i in range(1, SPAN_S + 1):
        batch, all_obs = [], []
        for r in range(n_rep):
            obs = _observations(rngs[r], sensors)
            all_obs.append(obs)
            batch += [dataclasses.replace(o, sensor=f"{o.sensor}@{r}") for o in obs]
        if i == 400:  # an override on one replica's road only
            for ctrl, where, stamp in ((alone[2], "residential", starts[2]),
                                       (together, "residential@2", base)):  # fmt: skip
                ctrl.add_override(Override(id="works", target=where, op="set", level=0.2,
                                           expires_at=stamp + 1100, allow_dark=True))  # fmt: skip
        got = together.step(base + i, batch)
        for r, ctrl in enumerate(alone):
            want = ctrl.step(starts[r] + i, all_obs[r])
            mine = slice(r * n, (r + 1) * n)
            np.testing.assert_array_equal(got.levels[mine], want.levels, err_msg=f"{r} at {i}")
            sent = got.send[(got.send >= r * n) & (got.send < (r + 1) * n)] - r * n
            np.testing.assert_array_equal(sent, want.send, err_msg=f"replica {r} at {i}")
            switches[r] += sum(e.kind in ("night_start", "night_end") for e in want.events)
        ends += sum(e.kind in ("night_start", "night_end") for e in got.events)
    c = len(core.spec.clusters)
    for r, ctrl in enumerate(alone):
        mine = slice(r * c, (r + 1) * c)
        for name in ("energy_wh", "baseline_full_wh", "baseline_schedule_wh",
                     "baseline_reference_wh"):  # fmt: skip
            np.testing.assert_allclose(getattr(together, name)[mine], getattr(ctrl, name),
                                       rtol=1e-9, err_msg=f"{name} of replica {r}")  # fmt: skip
        np.testing.assert_array_equal(together.cluster_night[mine], ctrl.cluster_night)
    # the spans cross what they were chosen to cross
    assert switches == [1, 1, 0, 0, 0]
    assert ends == 2
    assert [p.id for p in alone[2].active_profiles] == ["friday-late"]
    assert alone[3].active_profiles == []
    assert [p.id for p in alone[4].active_profiles] == ["early"]
