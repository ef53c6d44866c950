"""Constructors for the events a step emits, so the controller reads as policy, not prose."""

from __future__ import annotations

from edge.control._inputs import Override
from edge.control._result import Event

__all__ = [
    "class_change",
    "failsafe_enter",
    "failsafe_exit",
    "lamp_fault",
    "lamp_ok",
    "meter",
    "night_switch",
    "override_expired",
    "rejected",
]


def rejected(now: float, subject: str, why: str) -> Event:
    return Event(t=now, kind="rejected", subject=subject, severity="warning",
                 message=f"observation rejected: {why}", data={"reason": why})  # fmt: skip


def lamp_fault(now: float, lamp: str, faults: tuple[str, ...]) -> Event:
    return Event(t=now, kind="lamp_fault", subject=lamp, severity="warning",
                 message=f"lamp {lamp} reports {', '.join(faults)}",
                 data={"faults": list(faults)})  # fmt: skip


def lamp_ok(now: float, lamp: str) -> Event:
    return Event(t=now, kind="lamp_ok", subject=lamp, message=f"lamp {lamp} fault cleared")


def meter(now: float, lamp: str, verdict: str, wh: float | None) -> Event:
    """A lamp's energy counter went back ("reset"), rose faster than the lamp can draw
    ("implausible") or is no longer reported ("gone")."""
    if verdict == "gone":
        return Event(t=now, kind="meter_gone", subject=lamp, severity="warning",
                     message=f"lamp {lamp} reports no energy counter any more: its energy is "
                             "modelled from now on",
                     data={})  # fmt: skip
    if verdict == "reset":
        return Event(t=now, kind="meter_reset", subject=lamp,
                     message=f"lamp {lamp}'s energy counter went back to {wh:g} Wh: counted "
                             "from 0 (a new driver, or a counter that a power cut clears)",
                     data={"energy_wh": wh})  # fmt: skip
    return Event(t=now, kind="meter_implausible", subject=lamp, severity="warning",
                 message=f"lamp {lamp}'s energy counter read {wh:g} Wh, more than the lamp can "
                         "have drawn since its last reading: refused",
                 data={"energy_wh": wh})  # fmt: skip


def failsafe_enter(now: float, cluster: str, problems: dict[str, str]) -> Event:
    why = "; ".join(f"{sensor} {problem}" for sensor, problem in problems.items())
    return Event(t=now, kind="failsafe_enter", subject=cluster, severity="critical",
                 message=f"cluster {cluster} to rated class: {why}",
                 data={"sensors": problems})  # fmt: skip


def failsafe_exit(now: float, cluster: str) -> Event:
    message = f"cluster {cluster} sensors healthy again: adaptive dimming resumes"
    return Event(t=now, kind="failsafe_exit", subject=cluster, message=message)


def class_change(now: float, cluster: str, reason: dict[str, float | str]) -> Event:
    flow, ratio = float(reason["flow_per_h"]), float(reason["ratio"])
    return Event(t=now, kind="class_change", subject=cluster,
                 message=f"cluster {cluster} {reason['from']} -> {reason['to']} "
                         f"(flow {flow:.0f}/h, {ratio:.1%} of capacity)",
                 data=dict(reason))  # fmt: skip


def override_expired(now: float, o: Override) -> Event:
    return Event(t=now, kind="override_expired", subject=o.target,
                 message=f"override {o.id} ({o.op} {o.level:.0%} on {o.target}) expired",
                 data={"id": o.id})  # fmt: skip


def night_switch(now: float, night: bool, source: str) -> Event:
    kind = "night_start" if night else "night_end"
    return Event(t=now, kind=kind, subject="site", message=f"{kind.replace('_', ' ')} by {source}")
