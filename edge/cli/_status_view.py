"""How ``status``, ``clusters`` and ``lamps`` read to a field engineer: tables that keep ids
whole, and for a cluster in fail-safe or a lamp whose lease lapsed, why and what to do."""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING

from edge.cli._args import format_duration, format_time
from edge.cli._console import console
from edge.cli._tables import Column, print_table
from edge.replies import ClusterRow, LampRow, SensorProblem, StatusResult

if TYPE_CHECKING:
    from edge._config_gateway import GatewayConfig

__all__ = ["print_clusters", "print_lamps", "print_status"]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def print_status(status: StatusResult, site: GatewayConfig) -> None:
    console.print(
        f"[bold]{status.gateway_id}[/] online, v{status.version}, up "
        f"{format_duration(status.uptime_s)}, {'night' if status.night else 'day'}, "
        f"broker {status.broker}, outbox {status.outbox_depth}, "
        f"overrides {status.overrides}, tick overruns {status.tick_overruns}"
    )
    for link in status.serial:
        state = "up" if link.up else "[bold red]DOWN[/]"
        console.print(f"serial {link.port}: {state}, {link.frames_ok} frames, "
                      f"{link.rejected} rejected")  # fmt: skip
    print_clusters(status.clusters)
    why = _why(status, site)
    if why:  # one print: rich's per-call cost is ~0.1 ms, and a site in trouble has hundreds
        console.print("\n".join(why))


def print_clusters(rows: list[ClusterRow]) -> None:
    columns = [
        Column("cluster"), Column("lamps", 3, "right"), Column("flow/h", 2, "right"),
        Column("class", 1), Column("level", 0, "right"), Column("power", 2, "right"),
        Column("fail-safe"), Column("lease lapsed", 4, "right"),
    ]  # fmt: skip
    print_table(
        columns,
        [
            [
                c.id,
                str(c.lamps),
                f"{c.flow_per_h:.0f}",
                f"{c.lighting_class} (rated {c.rated_class})",
                _pct(c.level),
                f"{c.power_w:.0f} W",
                "[bold red]YES[/]" if c.failsafe else "no",
                str(c.lease_lapsed) if c.lease_lapsed else "-",
            ]
            for c in rows
        ],
    )


def _lamp_power(lamp: LampRow) -> str:
    if lamp.reported_power_w is not None:
        return f"{lamp.reported_power_w:.1f} W"
    return f"~{lamp.modelled_power_w:.1f} W"  # the model's figure: the node reported none


def print_lamps(rows: list[LampRow]) -> None:
    columns = [
        Column("lamp"), Column("cluster", 5), Column("level", 0, "right"),
        Column("target", 3, "right"), Column("lease age", 4, "right"),
        Column("power", 0, "right"), Column("reported", 2, "right"), Column("faults"),
    ]  # fmt: skip
    print_table(
        columns,
        [
            [
                lamp.id,
                lamp.cluster,
                _pct(lamp.level),
                _pct(lamp.target),
                "-" if lamp.lease_age_s is None else f"{lamp.lease_age_s:.0f} s",
                _lamp_power(lamp),
                _pct(lamp.reported_level),
                f"[bold red]{', '.join(lamp.faults)}[/]" if lamp.faults else "-",
            ]
            for lamp in rows
        ],
    )
    if any(lamp.reported_power_w is None for lamp in rows):
        console.print("[dim]~ power: the model's figure, for lamps whose node reports none[/]")


def _why(status: StatusResult, site: GatewayConfig) -> list[str]:
    """For each cluster in fail-safe and each lapsed lease: why, since when, what to do."""
    zone = site.site.zone
    lines = []
    for c in status.clusters:
        if c.failsafe:
            lines.append(
                f"[bold red]fail-safe[/] {c.id}: at its rated class {c.rated_class}, "
                "no dimming, because"
            )
            for s in c.failsafe_sensors:
                lines.append(f"  {_sensor_line(s, status.stale_s, zone)}")
            # one fix per kind of trouble (a serial line, the MQTT sensors, a faulty sensor)
            for fix in dict.fromkeys(_sensor_fix(s, site) for s in c.failsafe_sensors):
                lines.append(f"  what to do: {fix}")
            if not c.failsafe_sensors:
                lines.append("  its sensors are not healthy (see `streetlight explain` a lamp)")
            lines.append("  it dims again by itself once all its sensors report healthy")
        if c.lease_lapsed:
            named = ", ".join(c.lease_lapsed_ids)
            more = f" and {c.lease_lapsed - len(c.lease_lapsed_ids)} more" if (
                c.lease_lapsed > len(c.lease_lapsed_ids)) else ""  # fmt: skip
            lines.append(
                f"[bold red]lease lapsed[/] {c.id}: {c.lease_lapsed} lamp(s) ({named}{more}) "
                f"held no lease for {format_duration(status.lease_s)} and run at their node's "
                "failsafe level"
            )
            lines.append(
                "  what to do: the daemon's leases do not reach them: check the lamp node's "
                "broker connection and account (ACL on lamp/<id>/set), or its serial line; "
                f"`streetlight tail --topic lamp/{c.lease_lapsed_ids[0]}/state` shows what it "
                "reports"
            )
    return lines


def _sensor_line(s: SensorProblem, stale_s: float, zone: tzinfo) -> str:
    since = format_time(s.last_seen, zone)
    if s.problem == "faulty":
        return f"sensor {s.id} ({s.source}) reports itself faulty ({s.reason or 'flagged'})"
    return (
        f"sensor {s.id} ({s.source}) silent since {since} ({format_duration(s.silent_s)}; "
        f"stale after {format_duration(stale_s)})"
    )


def _sensor_fix(s: SensorProblem, site: GatewayConfig) -> str:
    if s.problem == "faulty":
        return "a sensor that says it cannot count: clean or re-aim it, or replace it"
    if s.source.startswith("serial "):
        port = s.source.split()[1]
        device = next((p.url for p in site.serial if p.name == port), port)
        return (
            f"check the power of the sensors on serial port {port} and the line itself "
            f"({device}; its link is listed above); with the service stopped, "
            f"`streetlight serial probe {device}` lists the nodes that answer"
        )
    return (
        "check the power and network of the MQTT sensors: each publishes "
        f"{site.topic_root}/sensor/<id>/counts, and `streetlight tail --topic "
        "'sensor/+/counts'` shows the ones still reporting"
    )
