"""EN 13201-2 lighting classes and their relative light levels."""

from __future__ import annotations

__all__ = ["CLASS_FAMILIES", "LIGHTING_CLASSES", "class_ratio"]

# Average maintained luminance (cd/m2) for M classes, average horizontal illuminance (lx)
# for P and C classes, from EN 13201-2:2015 tables 1, 2 and 3.
LIGHTING_CLASSES: dict[str, float] = {
    "M1": 2.0, "M2": 1.5, "M3": 1.0, "M4": 0.75, "M5": 0.5, "M6": 0.3,
    "C0": 50.0, "C1": 30.0, "C2": 20.0, "C3": 15.0, "C4": 10.0, "C5": 7.5,
    "P1": 15.0, "P2": 10.0, "P3": 7.5, "P4": 5.0, "P5": 3.0, "P6": 2.0,
}  # fmt: skip

CLASS_FAMILIES = ("M", "C", "P")


def class_ratio(cls: str, rated: str) -> float:
    """Light level of ``cls`` relative to the ``rated`` class of the same family."""
    return LIGHTING_CLASSES[cls] / LIGHTING_CLASSES[rated]
