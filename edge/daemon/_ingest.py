"""Ingest: MQTT messages and serial frames in, control-core observations out, per tick.

Handlers only parse, validate and append; the tick loop takes everything gathered since the
last tick in one ``drain()``. Every message ends in exactly one counted result: ``ok`` or the
reason it was dropped.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Collection

from edge.config import SiteConfig
from edge.control import (
    KINDS,
    CountsBatch,
    LampReport,
    LuxReading,
    Observation,
    SensorCounts,
    SensorFault,
)
from edge.mqtt import Inbound
from edge.payloads import (
    CountsPayload,
    LampStatePayload,
    LuxPayload,
    PayloadError,
    parse,
    unknown_fields,
)
from firmware_bridge.frames import (
    FLAG_DAY_BURNING,
    FLAG_DRIVER_FAULT,
    FLAG_FAILSAFE,
    FLAG_LAMP_FAILURE,
    FLAG_OVERTEMP,
    SENSOR_FAULT_CODES,
    Counts,
    Frame,
    Hello,
    LampStatus,
    Lux,
    SensorFaultReport,
)

__all__ = ["Ingest"]

log = logging.getLogger("streetlight.ingest")


#: LAMP_STATUS flag bits (PROTOCOL.md) and the lamp-state faults they stand for.
_LAMP_FLAGS = (
    (FLAG_LAMP_FAILURE, "lamp_failure"),
    (FLAG_DRIVER_FAULT, "driver_fault"),
    (FLAG_FAILSAFE, "failsafe"),
    (FLAG_DAY_BURNING, "day_burning"),
    (FLAG_OVERTEMP, "overtemp"),
)

Count = Callable[[str, str, str], None]  # (source, kind, result)

#: A sensor's reports may add up to max_per_s a second, with this many seconds' worth saved up
#: (a node reports every 10 s, or within 1 s of a detection).
ALLOWANCE_S = 10.0


def _pad(counts: tuple[int, ...]) -> tuple[int, ...]:
    """A node may count more or fewer kinds than we know; extra kinds are dropped."""
    return (tuple(counts) + (0,) * len(KINDS))[: len(KINDS)]


class Ingest:
    """Routes inbound traffic to observations for the next tick."""

    def __init__(
        self,
        site: SiteConfig,
        *,
        count: Count,
        max_payload_bytes: int,
        lamp_ids: Collection[str] | None = None,
        unknown_field: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        road_user: Callable[[], None] | None = None,
    ) -> None:
        """``lamp_ids``: the controller's (its id -> index mapping, shared: a set of its own
        would cost ~5 MB at 100,000 lamps); else resolved from ``site``.
        ``unknown_field(kind)``: a payload used despite a field this version does not know.
        ``clock``: seconds, for each sensor's allowance of road users.
        ``road_user()``: a count of at least one road user was taken (light it at once)."""
        self.root = site.topic_root
        self.max_payload_bytes = max_payload_bytes
        self._count = count
        self._unknown_field = unknown_field
        # sensor id -> its position in the controller's sensor list (the config's order)
        self.sensors = {s.id: i for i, s in enumerate(s for c in site.clusters for s in c.sensors)}
        if lamp_ids is None:  # cluster by cluster: never all lamps as config objects at once
            lamp_ids = {lamp.id for c in site.clusters for lamp in c.resolved_lamps()}
        self.lamps = lamp_ids
        self.lux_sensor = site.controller.night.lux_sensor
        self.max_per_s = {s.id: s.max_per_s for c in site.clusters for s in c.sensors}
        # Each sensor's allowance: max_per_s a second, at most ALLOWANCE_S seconds' worth saved
        # up, so many plausible reports cannot add up to more than the sensor can see.
        self._clock = clock
        self._road_user = road_user
        self._allowance = {s: (rate * ALLOWANCE_S, clock()) for s, rate in self.max_per_s.items()}
        self.serial_sensors = {
            (s.port, s.node, s.channel): s.id
            for c in site.clusters
            for s in c.sensors
            if s.source == "serial"
        }
        self.serial_lamps = {
            (lamp.port, lamp.node): lamp.id
            for c in site.clusters
            for lamp in c.lamps
            if lamp.source == "serial"
        }
        # ids that report over a serial node: the same id over MQTT is not theirs
        self._on_serial = {*self.serial_sensors.values(), *self.serial_lamps.values()}
        self._pending: list[Observation] = []
        self._counts_pending: list[SensorCounts] = []  # packed into one batch at drain
        self._faulty: dict[str, bool] = {}
        self.lamp_state: dict[str, LampStatePayload] = {}
        self.nodes: dict[tuple[str, int], Hello] = {}
        self.rejections: Counter[str] = Counter()

    def drain(self) -> list[Observation]:
        """Everything gathered since the last call; the counts as one batch with their
        sensors' indices (resolved on arrival), so the control step looks nothing up."""
        out, self._pending = self._pending, []
        if self._counts_pending:
            counts, self._counts_pending = self._counts_pending, []
            out.append(CountsBatch.of(counts, [self.sensors[c.sensor] for c in counts]))
        return out

    def _reject(self, source: str, kind: str, reason: str, detail: str) -> None:
        self._count(source, kind, reason)
        self.rejections[reason] += 1
        if self.rejections[reason] in (1, 10, 100) or self.rejections[reason] % 1000 == 0:
            log.warning("ingest %s %s dropped (%s): %s", source, kind, reason, detail)

    # ------------------------------------------------------------------- MQTT
    def on_mqtt(self, msg: Inbound) -> None:
        """``<root>/sensor/<id>/counts|lux`` and ``<root>/lamp/<id>/state``."""
        parts = (
            msg.topic[len(self.root) + 1 :].split("/") if msg.topic.startswith(self.root) else []
        )
        if len(parts) != 3 or parts[0] not in ("sensor", "lamp"):
            self._reject("mqtt", "unknown", "unknown_topic", msg.topic)
            return
        group, ident, leaf = parts
        kind = {"counts": "counts", "lux": "lux", "state": "lamp_state"}.get(leaf, "unknown")
        if (group, kind) not in (("sensor", "counts"), ("sensor", "lux"), ("lamp", "lamp_state")):
            self._reject("mqtt", "unknown", "unknown_topic", msg.topic)
            return
        known = self.lamps if group == "lamp" else self.sensors
        if ident not in known:
            self._reject("mqtt", kind, "unknown_id", f"{group} {ident!r} is not in the config")
            return
        if not msg.payload:  # someone clearing a retained message: nothing to take in
            self._count("mqtt", kind, "cleared")
            return
        if ident in self._on_serial:
            self._reject("mqtt", kind, "wrong_source",
                         f"{group} {ident!r} reports over its serial node, not MQTT")  # fmt: skip
            return
        if msg.retain and group == "sensor":
            # counts and lux are what happened then, not now: replayed at every (re)subscribe
            self._reject("mqtt", kind, "retained", f"{msg.topic}: a retained report")
            return
        try:
            payload = parse(kind, msg.payload, max_bytes=self.max_payload_bytes)
        except PayloadError as err:
            self._reject("mqtt", kind, err.reason, f"{msg.topic}: {err.detail}")
            return
        extra = unknown_fields(payload)
        if extra:
            if self._unknown_field is not None:
                self._unknown_field(kind)
            log.debug("ingest %s: fields this version does not know: %s", msg.topic, extra)
        if isinstance(payload, CountsPayload):
            f, b = payload.forward, payload.backward
            total = f.car + f.bike + f.pedestrian + b.car + b.bike + b.pedestrian
            if not self._plausible("mqtt", ident, total, payload.interval_s):
                return
            self._counts(ident, payload)
        elif isinstance(payload, LuxPayload):
            if ident != self.lux_sensor:
                self._reject("mqtt", kind, "not_lux_sensor", f"{ident} is not night.lux_sensor")
                return
            self._pending.append(LuxReading(sensor=ident, lux=payload.lux))
        elif isinstance(payload, LampStatePayload):
            self._lamp_state(ident, payload)
        self._count("mqtt", kind, "ok")

    def _plausible(self, source: str, sensor: str, total: int, interval_s: float) -> bool:
        """More road users than the sensor can see, in the report's interval or in its reports
        of the last ALLOWANCE_S: refused, counted."""
        if not total:
            return True
        rate = self.max_per_s[sensor]
        most = rate * max(interval_s, 1.0)
        left, at = self._allowance[sensor]
        now = self._clock()
        left = min(rate * ALLOWANCE_S, left + rate * max(now - at, 0.0))
        if total <= most and total <= left:
            self._allowance[sensor] = (left - total, now)
            return True
        self._allowance[sensor] = (left, now)
        why = f"in {interval_s:g} s" if total > most else f"on top of its last {ALLOWANCE_S:g} s"
        self._reject(source, "counts", "implausible", f"sensor {sensor}: {total} road users {why}, "
                     f"more than its max_per_s ({rate:g}) allows")  # fmt: skip
        return False

    def _counts(self, sensor: str, p: CountsPayload) -> None:
        if self._faulty.get(sensor, False) != p.faulty:
            self._faulty[sensor] = p.faulty
            self._pending.append(SensorFault(sensor=sensor, faulty=p.faulty, reason="node says"))
        f, b = p.forward, p.backward
        forward, backward = (f.car, f.bike, f.pedestrian), (b.car, b.bike, b.pedestrian)
        self._take(SensorCounts(sensor=sensor, interval_s=p.interval_s, forward=forward,
                                backward=backward, mean_speed_mps=p.mean_speed_mps))  # fmt: skip

    def _take(self, counts: SensorCounts) -> None:
        self._counts_pending.append(counts)
        if self._road_user is not None and (any(counts.forward) or any(counts.backward)):
            self._road_user()

    # ----------------------------------------------------------------- serial
    def on_frame(self, port: str, frame: Frame) -> None:
        """A good frame from a serial link (bad ones were counted by its deframer)."""
        msg = frame.message
        kind = type(msg).__name__.lower()
        if isinstance(msg, Hello):
            self.nodes[(port, msg.node)] = msg
            log.info("serial %s: node %d is %s", port, msg.node, msg)
            self._count("serial", kind, "ok")
            return
        if isinstance(msg, Counts | SensorFaultReport):
            sensor = self.serial_sensors.get((port, msg.node, msg.sensor))
            if sensor is None:
                where = f"port {port} node {msg.node} channel {msg.sensor}"
                self._reject("serial", kind, "unknown_id", f"no sensor configured at {where}")
                return
            if isinstance(msg, Counts):
                total = sum(msg.forward) + sum(msg.backward)
                if not self._plausible("serial", sensor, total, msg.interval_ms / 1000):
                    return
                speed = msg.mean_speed_cms
                self._take(
                    SensorCounts(
                        sensor=sensor,
                        interval_s=msg.interval_ms / 1000,
                        forward=_pad(msg.forward),
                        backward=_pad(msg.backward),
                        mean_speed_mps=speed / 100 if speed is not None else None,
                    )
                )
            else:
                faulty = msg.code != 0
                reason = SENSOR_FAULT_CODES[msg.code] if faulty else ""
                self._faulty[sensor] = faulty
                self._pending.append(SensorFault(sensor=sensor, faulty=faulty, reason=reason))
            self._count("serial", kind, "ok")
            return
        if isinstance(msg, Lux):
            sensor = next(
                (s for (p, n, _), s in self.serial_sensors.items() if p == port and n == msg.node),
                None,
            )
            if sensor is None or sensor != self.lux_sensor:
                self._reject("serial", kind, "not_lux_sensor", f"lux from {port} node {msg.node}")
                return
            self._pending.append(LuxReading(sensor=sensor, lux=msg.lux))
            self._count("serial", kind, "ok")
            return
        if isinstance(msg, LampStatus):
            lamp = self.serial_lamps.get((port, msg.node))
            if lamp is None:
                self._reject("serial", kind, "unknown_id", f"no lamp configured at {port} "
                             f"node {msg.node}")  # fmt: skip
                return
            self._lamp_state(lamp, _lamp_state(msg))
            self._count("serial", kind, "ok")
            return
        self._count("serial", kind, "ignored")

    def _lamp_state(self, lamp: str, state: LampStatePayload) -> None:
        self.lamp_state[lamp] = state
        self._pending.append(
            LampReport(
                lamp=lamp,
                level=state.level,
                power_w=state.power_w,
                energy_wh=state.energy_wh,
                # failsafe is the node doing its job, not a lamp fault
                faults=tuple(f for f in state.faults if f != "failsafe"),
            )
        )


def _lamp_state(msg: LampStatus) -> LampStatePayload:
    """A serial lamp node's LAMP_STATUS as the state an MQTT lamp node reports."""
    faults = [name for bit, name in _LAMP_FLAGS if msg.flags & bit]
    return LampStatePayload(
        level=msg.level,
        power_w=msg.power_w,
        energy_wh=float(msg.energy_wh),
        faults=faults,  # type: ignore[arg-type]
        lease_left_s=msg.lease_left_ms / 1000,
    )
