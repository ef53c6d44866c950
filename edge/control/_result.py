"""What a step gives back: levels, leases to send, events, energy; and explain's answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = ["Event", "Explanation", "LayerEffect", "SensorHealth", "Severity", "StepResult"]

Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Something an operator should know: class change, fail-safe, night, override expiry..."""

    t: float
    kind: str
    subject: str
    message: str
    severity: Severity = "info"
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorHealth:
    """A sensor that puts its cluster in fail-safe: silent past stale_s, or flagged faulty."""

    sensor: str
    problem: Literal["silent", "faulty"]
    last_seen: float  # its last report (or the controller's start when it never reported)
    silent_s: float
    reason: str = ""  # what a faulty sensor said

    def describe(self) -> str:
        if self.problem == "faulty":
            return f"faulty ({self.reason or 'flagged'})"
        return f"silent for {self.silent_s:.0f} s"


@dataclass(frozen=True, slots=True, kw_only=True)
class StepResult:
    """One tick's output. Arrays are read-only views valid until the next step."""

    now: float
    night: bool
    levels: npt.NDArray[np.float64]
    send: npt.NDArray[np.intp]  # lamps whose lease goes out, each once: rises first
    send_levels: npt.NDArray[np.float64]
    seq: int  # the seq of every lease this step sends
    lease_s: float
    events: tuple[Event, ...]
    cluster_wh: npt.NDArray[np.float64]  # modelled: the commanded levels on the driver curve
    ledger_wh: npt.NDArray[np.float64]  # the lamps' meters where they report, modelled elsewhere
    metered_wh: npt.NDArray[np.float64]  # the meters' readings that arrived
    metered_model_wh: npt.NDArray[np.float64]  # the model's figure for the metered lamps
    baseline_full_wh: npt.NDArray[np.float64]
    baseline_schedule_wh: npt.NDArray[np.float64]
    baseline_reference_wh: npt.NDArray[np.float64]

    @property
    def send_seq(self) -> npt.NDArray[np.int64]:
        """The seq of each lease in ``send`` (all the step's ``seq``)."""
        return np.full(len(self.send), self.seq, dtype=np.int64)


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerEffect:
    """One profile or override that touched the lamp, and the level before and after."""

    kind: str  # "profile" or "override"
    id: str
    op: str
    level: float
    before: float
    after: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    """Why a lamp is at its level: the chain the controller followed at its last step."""

    lamp: str
    cluster: str
    t: float
    night: bool
    night_source: str
    lights_on_at: float | None
    lights_off_at: float | None
    flow_per_h: float
    window_s: float
    capacity_per_h: float
    flow_ratio: float
    warm: bool
    rated_class: str
    cls: str
    class_level: float
    threshold: float | None
    failsafe: bool
    failsafe_reason: str
    # the fixed requirement by the measured flow (docs/policy.md), and how the lamp meets it
    required_class: str
    required_level: float
    requirement_why: str
    presence_level: float
    meets: str
    boost: bool
    entry: bool  # an entry lamp: at the presence level all night
    boost_until: float
    boost_sensor: str | None
    adaptive_target: float
    layers: tuple[LayerEffect, ...]
    floor: float
    ceiling: float
    clamped: float
    clo: float
    target: float
    level: float
    ramp_limited: bool

    def lines(self, when: Callable[[float], str] = lambda t: f"t={t:.0f}") -> list[str]:
        """The chain as short human sentences, in order; ``when`` writes a moment (the core
        knows no time zone: the caller passes the site's)."""
        out = [f"lamp {self.lamp} in cluster {self.cluster}"]
        out.append(f"night: {'yes' if self.night else 'no'} (by {self.night_source})")
        if self.night:
            state = "" if self.warm else " (warming up: rated class until a full window)"
            thr = f", threshold {self.threshold:.2f}" if self.threshold is not None else ""
            out.append(
                f"flow {self.flow_per_h:.0f}/h over {self.window_s / 60:.0f} min = "
                f"{self.flow_ratio:.1%} of capacity {self.capacity_per_h:.0f}/h{thr}{state}"
            )
            out.append(
                f"class {self.cls} (rated {self.rated_class}) -> level {self.class_level:.0%}"
            )
            out.append(
                f"requirement: {self.required_class} ({self.requirement_why}) -> "
                f"{self.required_level:.0%} at a road user"
            )
            out.append(f"meets it: {self.meets}")
            if self.failsafe:
                out.append(f"FAIL-SAFE: {self.failsafe_reason} -> rated level 100%")
            if self.entry:
                out.append(
                    "entry lamp: at the presence level all night (road users come onto the "
                    "road here; a sensor's report takes a moment to arrive)"
                )
            elif self.boost:
                until = (
                    "while a tracked road user is near"
                    if self.boost_until == float("inf")
                    else f"until {when(self.boost_until)}"
                )
                if self.boost_sensor is None:
                    out.append(f"presence boost held {until} (a road user has passed)")
                else:
                    out.append(f"presence boost from sensor {self.boost_sensor} {until}")
            out.append(f"adaptive target {self.adaptive_target:.0%}")
        for layer in self.layers:
            out.append(
                f"{layer.kind} {layer.id}: {layer.op} {layer.level:.0%} "
                f"({layer.before:.0%} -> {layer.after:.0%})"
            )
        out.append(
            f"clamp to [{self.floor:.0%}, {self.ceiling:.0%}] -> {self.clamped:.0%}"
            + (f", CLO x{self.clo:.2f}" if self.clo != 1.0 else "")
        )
        ramp = " (ramping)" if self.ramp_limited else ""
        out.append(f"target {self.target:.0%}, level now {self.level:.0%}{ramp}")
        return out
