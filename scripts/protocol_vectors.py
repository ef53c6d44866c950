#!/usr/bin/env python3
"""Print the hex test vectors of firmware_bridge/PROTOCOL.md (one per message type).

.venv/bin/python scripts/protocol_vectors.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmware_bridge import frames

VECTORS = [
    (1, 'Hello(node=17, firmware=(1, 4, 2), capabilities=3, model="RD-24")'),
    (2, "Discover()"),
    (3, "Ping(node=17, token=305419896)"),
    (3, "Pong(node=17, token=305419896)"),
    (4, "Heartbeat(node=0, uptime_s=86400)"),
    (5, "Ack(acked_seq=772, acked_type=16)"),
    (6, "Nack(acked_seq=9, acked_type=32, reason=3)"),
    (
        772,
        "Counts(node=17, sensor=0, interval_ms=10000, forward=(3, 1, 0), backward=(2, 0, 1), mean_speed_cms=1250)",
    ),
    (
        773,
        "Counts(node=18, sensor=1, interval_ms=10000, forward=(0, 0, 0), backward=(0, 0, 0), mean_speed_cms=None)",
    ),
    (
        40,
        "LampStatus(node=301, level=0.3, power_w=18.5, energy_wh=123456, flags=0, lease_left_ms=61000)",
    ),
    (41, "LampStatus(node=302, level=1.0, power_w=61.2, energy_wh=9876, flags=5, lease_left_ms=0)"),
    (7, "Lux(node=17, lux=12.5)"),
    (8, "SensorFaultReport(node=18, sensor=1, code=1)"),
    (65535, "SetLevel(node=301, level=0.65, lease_ms=90000, lease_seq=42)"),
]

NAMESPACE = {cls.__name__: cls for cls in frames.MESSAGE_TYPES.values()}


def main() -> None:
    for seq, text in VECTORS:
        message = eval(text, {"__builtins__": {}}, NAMESPACE)  # our own literal table
        print(f"seq: {seq}")
        print(f"message: {text}")
        print(f"frame: {frames.encode_frame(message, seq).hex(' ')}")
        print()


if __name__ == "__main__":
    main()
