"""The vectorised dimming controller: one ``step(now, observations)`` per tick, no lamp loops.

Order of a step (DESIGN.md, "The control policy"): energy for the interval just ended,
observations in, night?, flow -> class per cluster, fail-safe, target (class level, presence
boost, profiles, fail-safe, overrides), clamp to floor/ceiling, CLO, ramp, leases to send.
Lamps of a cluster are contiguous, so per-cluster work is slice work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from edge.control import _events as ev
from edge.control._boost import PresenceBoost
from edge.control._clusters import ClusterTraffic
from edge.control._counts import ingest_counts
from edge.control._energy import EnergyLedger
from edge.control._index import SiteIndex
from edge.control._inputs import (
    CountsBatch,
    LampReport,
    LuxReading,
    Observation,
    Override,
    Profile,
    SensorCounts,
    SensorFault,
)
from edge.control._layers import Layers, tiled_selection
from edge.control._leases import LeaseBook
from edge.control._night import NightVerdict, SiteCalendar
from edge.control._reports import LampReports
from edge.control._result import Event, StepResult
from edge.control._spec import PolicyParams, SiteSpec
from edge.control._targets import Targets
from edge.control._views import ControllerViews
from edge.errors import UnknownIdError

__all__ = ["DimmingController"]


class DimmingController(ControllerViews):
    """Owns the per-lamp and per-cluster state arrays of one gateway's street.

    With ``replicas`` (clock offsets, s) the street is run that many times side by side
    (``SiteSpec.tiled``), replica r's calendar ``replicas[r]`` seconds ahead of the
    controller's clock: the simulator's many nights in one step. A profile applies to its
    target in every replica; everything else is per cluster and per lamp as ever."""

    def __init__(
        self,
        *,
        site: SiteSpec,
        params: PolicyParams,
        start: float,
        profiles: Sequence[Profile] = (),
        seq_base: int = 0,
        replicas: Sequence[float] = (0.0,),
    ) -> None:
        n_rep, base = len(replicas), SiteIndex(site)
        profile_lamps = [(p, tiled_selection(base.select(p.target), n_rep, len(site.lamps)))
                         for p in profiles]  # fmt: skip
        if n_rep > 1:
            site = site.tiled(n_rep)
        self.site, self.params = site, params
        lamps = site.lamps
        n, c, s = len(lamps), len(site.clusters), len(site.sensors)
        self.n_lamps, self.n_clusters, self.n_sensors = n, c, s
        self._now = float(start)
        per_replica = len(site.clusters) // n_rep
        self._replica = np.arange(c, dtype=np.intp) // max(per_replica, 1)
        self._calendar = SiteCalendar(params.night, replicas, self._replica)
        self._presence = PresenceBoost(site=site, params=params.presence)
        self._geometry = self._presence.geometry
        self.traffic = ClusterTraffic(site=site, params=params, start=start)
        # Cluster geometry: lamps of cluster k are lamps[starts[k]:ends[k]].
        self._index = SiteIndex(site)
        # Per-lamp state. Nodes power on at full, so the controller starts there too.
        self._floor_check = True  # lamps below their night floor go straight to it
        # the highest command any lamp can get (targets are clamped to ceiling x CLO)
        self._max_cmd = float(np.max(lamps.ceiling * lamps.clo, initial=0.0))
        # levels start at 1 and move toward targets in [0, _max_cmd]: all within [0, 1]?
        self._unit_levels = self._max_cmd <= 1.0
        self.level = np.ones(n)
        self._next = np.empty(n)
        # the two level buffers swap every step; a read-only view of each for the results
        self._read_only = {id(a): a.view() for a in (self.level, self._next)}
        for view in self._read_only.values():
            view.flags.writeable = False
        self.boost_until = self._presence.boost_until
        self._leases = LeaseBook(
            n=n, refresh_s=params.lease_refresh_s, deadband=params.deadband, seq_base=seq_base,
            per_replica=n // n_rep,
        )  # fmt: skip
        self.last_sent = self._leases.last_sent
        self._reports = LampReports(n)
        self.reported_level, self.lamp_faulty = self._reports.level, self._reports.faulty
        self.energy = EnergyLedger(
            lamps=lamps, params=params.energy, starts=self._index.starts, n_clusters=c,
            levels=self.level, start=start,
        )  # fmt: skip
        self._no_rises = np.zeros(c)
        self._no_rises.flags.writeable = False
        # Scratch buffers, reused every step.
        self._changed_mask = np.empty(n, dtype=bool)
        self._upper = np.empty(n)
        self.layers = Layers(
            floor=lamps.floor, clo=lamps.clo, cluster=lamps.cluster, profiles=profile_lamps
        )
        self._targets = Targets(
            site=site, params=params, index=self._index, traffic=self.traffic,
            presence=self._presence, layers=self.layers,
        )  # fmt: skip
        # the night verdict (the first replica's: a gateway has one), None before a step
        self.night: bool | None = None
        self.verdict: NightVerdict | None = None

    # ---------------------------------------------------------------- commands
    def force_refresh(self) -> None:
        """Send every lamp's lease at the next step (after a broker reconnect)."""
        self._leases.force_all()

    def resend(self, lamps: npt.NDArray[np.intp]) -> None:
        """These lamps' leases never left (no connection, a full send queue): send them again
        at the next step, with the level then."""
        self._leases.force(lamps)

    # --------------------------------------------------------------- overrides
    @property
    def overrides(self) -> list[Override]:
        return [o for o, _ in self.layers.overrides.values()]

    @property
    def profiles(self) -> list[Profile]:
        return [p for p, _ in self.layers.profiles]

    @property
    def active_profiles(self) -> list[Profile]:
        return list(self.layers.active)

    def add_override(self, override: Override) -> None:
        """Add (or replace, by id) a manual layer. Unknown targets raise UnknownIdError."""
        self.layers.add(override, self._index.select(override.target))
        self._floors_moved()

    def clear_override(self, key: str) -> list[Override]:
        """Remove overrides by id, or every override on a target; returns what was removed."""
        gone = self.layers.clear(key)
        if gone:
            self._floors_moved()
        return gone

    def shift(self, delta: float) -> None:
        """The wall clock stepped by ``delta`` s between two steps (NTP at boot, a manual
        set): move every time the controller keeps by it, so intervals stay what they were
        (no energy for the step, leases, holds, silences and overrides with the time they
        had left) and the next ``step`` sees only the time that really passed. The flow
        window starts afresh (the rated class until it is full again)."""
        self._now += delta
        self.energy.shift(delta)
        self._leases.shift(delta)
        self._presence.shift(delta)
        self.traffic.shift(delta, self._now)
        self.layers.shift(delta)
        self._calendar.shift(delta)

    def _floors_moved(self) -> None:
        """An allow-dark layer came or went: the clamped class levels and the floor check
        follow at the next step."""
        self._floor_check = True
        self._targets.stale = True

    # ------------------------------------------------------------ observations
    def _observe(self, now: float, obs: Observation, events: list[Event]) -> None:
        if isinstance(obs, SensorFault):
            i = self.traffic.sensor_index.get(obs.sensor)
            if i is None:
                events.append(ev.rejected(now, obs.sensor, "unknown sensor"))
                return
            self.traffic.fault(now, i, obs.faulty, obs.reason)
        elif isinstance(obs, LuxReading):
            if obs.sensor == self.params.night.lux_sensor:
                self._calendar.observe_lux(now, obs.lux)
            else:
                events.append(ev.rejected(now, obs.sensor, "not the configured lux sensor"))
        elif isinstance(obs, LampReport):
            try:
                j = self.lamp_index(obs.lamp)
            except UnknownIdError:
                events.append(ev.rejected(now, obs.lamp, "unknown lamp"))
                return
            self._reports.take(now, j, obs, self.energy, events)

    # -------------------------------------------------------------------- step
    def _take(self, now: float, observations: Iterable[Observation], events: list[Event]) -> None:
        """The observations that arrived: counts in one go (no count re-acquires a track
        another made this tick), the rest one by one."""
        counts: list[SensorCounts] = []
        batches: list[CountsBatch] = []
        for obs in observations:
            if type(obs) is SensorCounts:
                counts.append(obs)
            elif type(obs) is CountsBatch:
                batches.append(obs)
            else:
                self._observe(now, obs, events)
        if counts:
            batches.append(CountsBatch.of(counts))
        if batches:
            ingest_counts(now, CountsBatch.join(batches), self.traffic, self._presence, events)

    def _turn_calendar(self, now: float, first: bool, events: list[Event]) -> bool:
        """The calendar at ``now``: an event where night came or went (not at the first
        step), the floor check where it came; whether any replica's calendar moved on."""
        calendar = self._calendar
        moved = calendar.advance(now) or first
        for r in calendar.switched:
            verdict = calendar.verdicts[r]
            assert verdict is not None
            if not first:
                events.append(ev.night_switch(now, verdict.night, verdict.source))
            if verdict.night:
                self._floor_check = True
        self.verdict = calendar.verdicts[0]
        self.night = bool(self.verdict is not None and self.verdict.night)
        return moved

    def step(self, now: float, observations: Iterable[Observation] = ()) -> StepResult:
        """Advance to ``now`` (epoch seconds), taking the observations that arrived since."""
        events: list[Event] = []
        dt = max(0.0, now - self._now)
        calendar, first = self._calendar, self.night is None
        if first:  # the interval up to this first step counts at the calendar at start
            calendar.advance(self._now)
            self.energy.calendar(calendar.night, calendar.minute)
        self.traffic.advance(now)
        self._take(now, observations, events)
        # After the readings: a lamp whose first reading came in during the interval is the
        # meter's for all of it (a retained reading, from before this start, covers it; a
        # fresh one leaves less than the interval uncounted), never counted twice.
        actual, full, sched, ref, ledger, metered_model = self.energy.integrate(dt)
        metered = self.energy.book_meters()  # the rises of this step's meter readings
        if metered is None:
            metered = self._no_rises
        else:
            ledger = ledger + metered

        new_day = self._turn_calendar(now, first, events)
        night, cluster_night, switched = bool(self.night), calendar.night, calendar.switched
        moved_clusters = self.traffic.update(now, events)
        expired = self.layers.expire(now)
        events.extend(ev.override_expired(now, o) for o in expired)
        if expired:
            self._floors_moved()

        targets = self._targets
        turned = calendar.clusters_of(switched)
        if first or targets.stale or len(turned) == self.n_clusters:
            targets.rebuild(cluster_night, None)
        else:
            moved = moved_clusters[cluster_night[moved_clusters]]  # by day: the day level
            if len(turned) or len(moved):
                targets.rebuild(cluster_night, np.union1d(turned, moved))
        if new_day:
            self.layers.activate(cluster_night, calendar.minute, calendar.weekday)
            self.energy.calendar(cluster_night, calendar.minute)
        any_night = calendar.any_night
        boosted = self._presence.follow(now) and any_night
        target = targets.update(now, boosted)

        changed = (self._ramp(dt, any_night, target)).nonzero()[0]
        new_levels = self.level.take(changed)
        send = self._leases.due(now, changed, new_levels, self.level, target)
        self.energy.levels_changed(now, changed, new_levels, self.level, self._unit_levels)
        self._now = now
        return StepResult(
            now=now,
            night=night,
            levels=self._read_only[id(self.level)],
            send=send,
            send_levels=self.level[send],
            seq=self._leases.step_seq,
            lease_s=self.params.lease_s,
            events=tuple(events),
            cluster_wh=actual,
            ledger_wh=ledger,
            metered_wh=metered,
            metered_model_wh=metered_model,
            baseline_full_wh=full,
            baseline_schedule_wh=sched,
            baseline_reference_wh=ref,
        )

    def _ramp(
        self, dt: float, night: bool, target: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.bool_]:
        """Move levels toward the target within the ramp rates; returns which lamps moved.
        A rise may take a whole tick's worth of the up-ramp even in a shorter step: a step
        run early for a road user brings the next tick's rise forward (more light, sooner).
        ``night``: whether any cluster has night."""
        level, nxt = self.level, self._next
        np.subtract(level, self.params.ramp_down_per_s * dt, out=nxt)  # the lowest it may go
        rise = self.params.ramp_up_per_s * max(dt, self.params.tick_s)
        if rise >= self._max_cmd:
            # the up-ramp covers any rise within this tick (levels are >= 0): no upper limit
            np.maximum(nxt, target, out=nxt)
        else:
            upper = self._upper
            np.add(level, rise, out=upper)
            np.minimum(upper, target, out=upper)
            np.maximum(nxt, upper, out=nxt)
        if night and self._floor_check:
            # Safety over comfort: a lamp below its night floor (dusk, a lifted allow-dark
            # override) goes straight to the floor rather than ramping up to it (the floor
            # is 0 where its cluster has day).
            np.maximum(nxt, self._targets.floor_cmd, out=nxt)
            self._floor_check = False
        changed = self._changed_mask
        np.not_equal(nxt, level, out=changed)
        self.level, self._next = nxt, level
        return changed
