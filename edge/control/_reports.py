"""What the lamps report of themselves: the level they are at, their faults, their meters."""

from __future__ import annotations

import numpy as np

from edge.control import _events as ev
from edge.control._energy import EnergyLedger
from edge.control._inputs import LampReport
from edge.control._result import Event

__all__ = ["LampReports"]


class LampReports:
    """Per lamp, the level it last reported (NaN: none yet) and whether it reports a fault;
    its energy counter's readings go to the ledger."""

    def __init__(self, n: int) -> None:
        self.level = np.full(n, np.nan)
        self.faulty = np.zeros(n, dtype=bool)

    def take(
        self, now: float, j: int, report: LampReport, energy: EnergyLedger, events: list[Event]
    ) -> None:
        """Lamp ``j``'s report: its level, its meter (or that it has none now), its faults
        (an event when they come or go)."""
        self.level[j] = report.level
        if report.energy_wh is not None:
            verdict = energy.read_meter(now, j, report.energy_wh)
            if verdict in ("reset", "implausible"):
                events.append(ev.meter(now, report.lamp, verdict, report.energy_wh))
        elif energy.unmeter(j):
            events.append(ev.meter(now, report.lamp, "gone", None))
        faulty = bool(report.faults)
        if faulty != self.faulty[j]:
            events.append(
                ev.lamp_fault(now, report.lamp, report.faults)
                if faulty
                else ev.lamp_ok(now, report.lamp)
            )
        self.faulty[j] = faulty
