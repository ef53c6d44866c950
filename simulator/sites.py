"""Generated sites of any size, for benchmarks and scale tests."""

from __future__ import annotations

from typing import Any

__all__ = ["generate_site"]

_ROAD_TYPES: tuple[tuple[str, float, float, str, list[str], float, float], ...] = (
    # road type, speed km/h, capacity/h, rated class, adapt classes, spacing m, nominal W
    ("arterial", 50.0, 1800.0, "M3", ["M4", "M5", "M6"], 40.0, 90.0),
    ("residential", 30.0, 600.0, "P3", ["P4", "P5"], 30.0, 35.0),
    ("cycle", 25.0, 400.0, "P4", ["P5", "P6"], 35.0, 25.0),
    ("collector", 50.0, 1200.0, "M4", ["M5", "M6"], 35.0, 60.0),
)


def generate_site(
    *, lamps: int, clusters: int | None = None, gateway_id: str = "bench-gw", mqtt_port: int = 1883
) -> dict[str, Any]:
    """A valid site document with ``lamps`` lamps spread over ``clusters`` road segments.

    Each cluster has an MQTT sensor at each end and one every ~500 m between.
    """
    if lamps < 1:
        raise ValueError("lamps must be >= 1")
    n_clusters = clusters if clusters is not None else max(1, min(lamps // 40, 5000))
    n_clusters = min(n_clusters, lamps)
    base, extra = divmod(lamps, n_clusters)
    out_clusters: list[dict[str, Any]] = []
    for ci in range(n_clusters):
        count = base + (1 if ci < extra else 0)
        road, speed, capacity, rated, adapt, spacing, watts = _ROAD_TYPES[ci % len(_ROAD_TYPES)]
        length = spacing * count
        n_sensors = max(2, int(length // 500) + 1)
        sensors = [
            {
                "id": f"c{ci:05d}-s{k}",
                "position_m": round(length * k / (n_sensors - 1), 1),
                "source": "mqtt",
            }
            for k in range(n_sensors)
        ]
        out_clusters.append(
            {
                "id": f"c{ci:05d}",
                "road_type": road,
                "length_m": length,
                "speed_limit_kmh": speed,
                "capacity_per_h": capacity,
                "rated_class": rated,
                "adapt_classes": adapt,
                "nominal_w": watts,
                "lamp_array": {
                    "count": count,
                    "spacing_m": spacing,
                    "start_m": spacing / 2,
                    "id_prefix": f"c{ci:05d}-",
                },
                "sensors": sensors,
            }
        )
    return {
        "gateway_id": gateway_id,
        "site": {"name": "generated", "latitude": 52.09, "longitude": 5.12, "timezone": "UTC"},
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port},
        "clusters": out_clusters,
    }
