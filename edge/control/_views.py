"""What a controller shows of its state: look-ups by id, per-cluster views, leases, energy."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from edge.control._boost import PresenceBoost
from edge.control._clusters import ClusterTraffic
from edge.control._energy import EnergyLedger
from edge.control._index import SiteIndex
from edge.control._layers import Selection
from edge.control._leases import LeaseBook
from edge.control._night import SiteCalendar
from edge.control._result import SensorHealth
from edge.control._targets import Targets

__all__ = ["ControllerViews"]


class ControllerViews:
    """The read side of ``DimmingController`` (which owns these parts)."""

    n_clusters: int
    traffic: ClusterTraffic
    energy: EnergyLedger
    _now: float
    _index: SiteIndex
    _calendar: SiteCalendar
    _leases: LeaseBook
    _presence: PresenceBoost
    _targets: Targets

    def lamp_index(self, lamp_id: str) -> int:
        """Index of a lamp id; UnknownIdError with the closest ids when absent."""
        return self._index.lamp(lamp_id)

    @property
    def lamp_ids(self) -> Mapping[str, int]:
        """Every lamp id, to its index (one mapping, shared with whoever asks)."""
        return self._index.lamps

    def cluster_index(self, cluster_id: str) -> int:
        return self._index.cluster(cluster_id)

    def select(self, target: str) -> Selection:
        """The lamps a layer on ``target`` (a lamp, a cluster or "all") touches: None for
        all, a slice or an index array; UnknownIdError with the closest ids when absent."""
        return self._index.select(target)

    def cluster_mean(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Mean of a per-lamp array over each cluster's lamps (0 for a cluster with none)."""
        starts, ends = self._index.starts, self._index.ends
        sizes = ends - starts
        sums = np.add.reduceat(values, starts) if len(values) else np.zeros(self.n_clusters)
        out: npt.NDArray[np.float64] = np.where(sizes > 0, sums / np.maximum(sizes, 1), 0.0)
        return out

    @property
    def cluster_flow(self) -> npt.NDArray[np.float64]:
        """Road users per hour per cluster (its busiest healthy sensor)."""
        return self.traffic.flow

    @property
    def cluster_step(self) -> npt.NDArray[np.intp]:
        """Class steps below each cluster's rated class."""
        return self.traffic.step

    @property
    def cluster_level(self) -> npt.NDArray[np.float64]:
        return self.traffic.level

    def unhealthy_sensors(self, cluster: int, now: float) -> list[SensorHealth]:
        """Why ``cluster`` is in fail-safe: its sensors silent past stale_s or faulty."""
        return self.traffic.unhealthy(now, cluster)

    @property
    def cluster_failsafe(self) -> npt.NDArray[np.bool_]:
        return self.traffic.failsafe

    @property
    def cluster_night(self) -> npt.NDArray[np.bool_]:
        """Whether each cluster had night at the last step."""
        return self._calendar.night

    @property
    def lease_seq(self) -> int:
        """The seq of the last step's leases (``seq_base`` before the first step): the
        highest sent so far."""
        return self._leases.step_seq

    @property
    def seq_base(self) -> int:
        """Every lease this controller sends has a seq above this."""
        return self._leases.seq_base

    @property
    def last_sent_at(self) -> npt.NDArray[np.float64]:
        """When each lamp's lease last went out (-inf: never)."""
        return self._leases.last_sent_at

    @property
    def presence_tracks(self) -> int:
        """Road users followed along their roads now (one per count and kind)."""
        return self._presence.tracks.size

    @property
    def cluster_sizes(self) -> npt.NDArray[np.intp]:
        return self._index.ends - self._index.starts

    def cluster_slice(self, k: int) -> slice:
        return self._index.cluster_slice(k)

    @property
    def target(self) -> npt.NDArray[np.float64]:
        """Each lamp's command target at the last step (after layers, clamp and CLO)."""
        return self._targets.target

    @property
    def presence_level(self) -> npt.NDArray[np.float64]:
        """Each lamp's level where a road user is near (light terms)."""
        return self._targets.presence_level

    # ------------------------------------------------------------------ energy
    @property
    def energy_wh(self) -> npt.NDArray[np.float64]:
        """Energy drawn per cluster since start (Wh)."""
        return self.energy.energy_wh

    @property
    def baseline_full_wh(self) -> npt.NDArray[np.float64]:
        return self.energy.baseline_full_wh

    @property
    def baseline_schedule_wh(self) -> npt.NDArray[np.float64]:
        return self.energy.baseline_schedule_wh

    @property
    def baseline_reference_wh(self) -> npt.NDArray[np.float64]:
        return self.energy.baseline_reference_wh

    @property
    def power(self) -> npt.NDArray[np.float64]:
        return self.energy.power

    def lamp_energy_wh(self, now: float | None = None) -> npt.NDArray[np.float64]:
        """Energy drawn per lamp since start (Wh), up to ``now`` (default: the last step)."""
        return self.energy.lamp_wh(self._now if now is None else now)
