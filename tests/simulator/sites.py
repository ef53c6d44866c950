"""A small site and a short night for the simulator's tests."""

from __future__ import annotations

from datetime import date
from typing import Any

from edge.config import SiteConfig, parse_config

SUMMER = date(2026, 6, 21)  # a short night: fast tests
SHORT_S = 3 * 3600.0  # and of it, the first three hours


def small_site(**controller: Any) -> SiteConfig:
    data = {
        "gateway_id": "test-gw",
        "site": {"latitude": 52.09, "longitude": 5.12, "timezone": "Europe/Amsterdam"},
        "controller": controller,
        "clusters": [
            {
                "id": "road", "road_type": "residential", "length_m": 100, "speed_limit_kmh": 30,
                "capacity_per_h": 600, "rated_class": "P3", "adapt_classes": ["P4", "P5", "P6"],
                "nominal_w": 40, "lamp_array": {"count": 5, "spacing_m": 20, "start_m": 10},
                "sensors": [
                    {"id": "west", "position_m": 0, "source": "mqtt"},
                    {"id": "east", "position_m": 100, "source": "mqtt"},
                ],
            }
        ],
    }  # fmt: skip
    return parse_config(data)
