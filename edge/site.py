"""The site as the pure control core takes it (SiteSpec, PolicyParams, profiles), translated
once from a SiteConfig; the daemon, the simulator and the scripts all build through here."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time

from edge.config import SiteConfig
from edge.control import (
    ClusterSpec,
    DimmingController,
    EnergyParams,
    LampTable,
    NightParams,
    PolicyParams,
    PresenceParams,
    Profile,
    SensorSpec,
    SiteSpec,
    class_ratio,
)

__all__ = ["CoreSite", "build_controller"]


def _minute(t: time) -> int:
    """Minute of the day of a wall-clock time (what the control core's calendars use)."""
    return t.hour * 60 + t.minute


_WEEKDAY = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def _site_spec(site: SiteConfig) -> SiteSpec:
    """The street as arrays: lamps grouped by cluster, in config order."""
    clusters = tuple(
        ClusterSpec(
            id=c.id,
            length_m=c.length_m,
            speed_limit_mps=c.speed_limit_kmh / 3.6,
            capacity_per_h=c.capacity_per_h,
            ladder=(c.rated_class, *c.adapt_classes),
            two_way=c.two_way,
        )
        for c in site.clusters
    )
    sensors = tuple(
        SensorSpec(id=s.id, cluster=k, position_m=s.position_m, type=s.type)
        for k, c in enumerate(site.clusters)
        for s in c.sensors
    )
    ids: list[str] = []
    cols: dict[str, list[float]] = {k: [] for k in ("cluster", "pos", "w", "floor", "ceil", "clo")}
    for k, c in enumerate(site.clusters):
        for lamp in c.resolved_lamps():
            ids.append(lamp.id)
            cols["cluster"].append(k)
            cols["pos"].append(lamp.position_m)
            cols["w"].append(lamp.nominal_w)
            cols["floor"].append(lamp.floor)
            cols["ceil"].append(lamp.ceiling)
            cols["clo"].append(lamp.clo_factor)
    table = LampTable.from_columns(
        ids=ids,
        cluster=cols["cluster"],
        position_m=cols["pos"],
        nominal_w=cols["w"],
        floor=cols["floor"],
        ceiling=cols["ceil"],
        clo=cols["clo"],
    )
    return SiteSpec(clusters=clusters, sensors=sensors, lamps=table)


def _policy_params(site: SiteConfig) -> PolicyParams:
    """The controller's parameters from the config's controller, site and energy sections."""
    c, n, e = site.controller, site.controller.night, site.energy
    return PolicyParams(
        tick_s=c.tick_s,
        flow_window_s=c.flow_window_s,
        flow_bins=c.flow_bins,
        class_thresholds=tuple(c.class_thresholds),
        class_hysteresis=c.class_hysteresis,
        presence=PresenceParams(**c.presence.model_dump()),
        ramp_up_per_s=c.ramp_up_per_s,
        ramp_down_per_s=c.ramp_down_per_s,
        stale_s=c.stale_s,
        deadband=c.deadband,
        lease_s=c.lease_s,
        lease_refresh_s=c.lease_refresh_s,
        night=NightParams(
            latitude=site.site.latitude,
            longitude=site.site.longitude,
            timezone=site.site.timezone,
            elevation_m=site.site.elevation_m,
            sunset_offset_s=n.sunset_offset_min * 60.0,
            sunrise_offset_s=n.sunrise_offset_min * 60.0,
            mode=n.mode,
            lux_sensor=n.lux_sensor,
            lux_on=n.lux_on,
            lux_off=n.lux_off,
            lux_stale_s=n.lux_stale_s,
            day_level=n.day_level,
        ),
        energy=EnergyParams(
            standby_w=e.standby_w,
            curve_levels=tuple(p[0] for p in e.driver_curve),
            curve_power=tuple(p[1] for p in e.driver_curve),
            schedule=tuple((_minute(s.start), s.level) for s in e.schedule_baseline),
        ),
    )


def _profiles(site: SiteConfig) -> tuple[Profile, ...]:
    """The calendar profiles, then the declared quiet hours as a Min layer per cluster at
    their class's level relative to the cluster's rated class."""
    quiet = [
        Profile(
            id=q.id if q.target != "all" else f"{q.id}:{c.id}",
            target=c.id,
            op="min",
            level=class_ratio(q.lighting_class, c.rated_class),
            start_min=_minute(q.start),
            end_min=_minute(q.end),
            days=frozenset(_WEEKDAY[d] for d in q.days) if q.days is not None else None,
            quiet_class=q.lighting_class,
            reason=q.reason,
        )
        for q in site.quiet_hours
        for c in site.clusters
        if q.target == c.id or (q.target == "all" and c.rated_class[0] == q.lighting_class[0])
    ]
    return tuple(
        Profile(
            id=p.id,
            target=p.target,
            op=p.op,
            level=p.level,
            start_min=_minute(p.start),
            end_min=_minute(p.end),
            days=frozenset(_WEEKDAY[d] for d in p.days) if p.days is not None else None,
        )
        for p in site.profiles
    ) + tuple(quiet)


@dataclass(frozen=True)
class CoreSite:
    """The control core's inputs for one site: the street as arrays, the policy's parameters
    and the calendar (profiles, then quiet hours)."""

    spec: SiteSpec
    params: PolicyParams
    profiles: tuple[Profile, ...]

    @classmethod
    def of(cls, site: SiteConfig) -> CoreSite:
        return cls(_site_spec(site), _policy_params(site), _profiles(site))

    def without_presence(self) -> CoreSite:
        """The same site with no presence boost at all (the broken policy, for comparison)."""
        params = dataclasses.replace(self.params, presence=PresenceParams.off())
        return dataclasses.replace(self, params=params)

    def controller(
        self, *, start: float, seq_base: int = 0, replicas: Sequence[float] = (0.0,)
    ) -> DimmingController:
        """A controller for the whole site, its clock starting at ``start`` (epoch seconds);
        with ``replicas``, the site that many times side by side, each replica's calendar
        that many seconds ahead of the clock (DimmingController)."""
        return DimmingController(
            site=self.spec,
            params=self.params,
            start=start,
            profiles=self.profiles,
            seq_base=seq_base,
            replicas=replicas,
        )


def build_controller(site: SiteConfig, *, start: float, seq_base: int = 0) -> DimmingController:
    """A controller for the whole site, its clock starting at ``start`` (epoch seconds)."""
    return CoreSite.of(site).controller(start=start, seq_base=seq_base)
