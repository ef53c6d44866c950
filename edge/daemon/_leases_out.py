"""A step's leases out: to the lamp nodes behind serial links, and to the broker for the rest."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from edge.control import StepResult
from edge.daemon._serial_lamps import SerialLamps
from edge.mqtt import MqttSession
from edge.payloads import lease_encoder

__all__ = ["lease_payloads", "send_leases"]

IntArray = npt.NDArray[np.intp]


def lease_payloads(
    result: StepResult,
    lamps: IntArray,
    levels: npt.NDArray[np.float64],
    topics: list[str],
) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) for each of ``lamps`` (at ``levels``) of the step's leases, in order,
    made one at a time (the publisher may stop early when the session is full)."""
    encode = lease_encoder(result.lease_s, result.seq)
    for j, lvl in zip(lamps.tolist(), levels.tolist(), strict=True):
        yield topics[j], encode(lvl)


def send_leases(
    result: StepResult,
    *,
    serial_lamps: SerialLamps | None,
    mqtt: MqttSession,
    topics: list[str],
    speed: float,
) -> tuple[int, IntArray]:
    """Hand the step's leases to the serial lamps and the broker: how many were taken, and
    the lamps whose lease was not (no connection, a full session, a link down). A lease
    expires on the broker with its lease, in the clock's time (``speed``)."""
    lamps, levels = result.send, result.send_levels
    sent, unsent = 0, np.empty(0, dtype=np.intp)
    if serial_lamps:
        serial = serial_lamps.mask[lamps]
        if serial.any():
            unsent = serial_lamps.send(lamps[serial], levels[serial], result.lease_s)
            sent += int(serial.sum()) - len(unsent)
            lamps, levels = lamps[~serial], levels[~serial]
    expiry = result.lease_s / speed
    for k, (topic, payload) in enumerate(lease_payloads(result, lamps, levels, topics)):
        if not mqtt.publish_nowait(topic, payload, qos=1, expiry_s=expiry):
            # No connection, or the session is full: the rest wait for the next tick.
            unsent = np.concatenate([unsent, lamps[k:]])
            break
        sent += 1
    return sent, unsent
