"""EN 13201-2 lighting classes, their relative light levels, the fixed requirement, and what a
lighting layer (a profile or an override) may be.

The requirement is what safety is scored against, whatever the policy's settings: the class
the road's traffic warrants by CEN/TR 13201-1's traffic-volume parameter (docs/policy.md).
Plain Python, no numpy: the config, the CLI and the control core all check against it.
"""

from __future__ import annotations

__all__ = [
    "CLASS_FAMILIES",
    "LIGHTING_CLASSES",
    "REQUIREMENT_MARGIN",
    "REQUIREMENT_THRESHOLDS",
    "REQUIREMENT_WINDOW_S",
    "class_ratio",
    "class_step",
    "layer_problem",
    "required_class",
    "required_steps",
]

# Average maintained luminance (cd/m2) for M classes, average horizontal illuminance (lx)
# for P and C classes, from EN 13201-2:2015 tables 1, 2 and 3.
LIGHTING_CLASSES: dict[str, float] = {
    "M1": 2.0, "M2": 1.5, "M3": 1.0, "M4": 0.75, "M5": 0.5, "M6": 0.3,
    "C0": 50.0, "C1": 30.0, "C2": 20.0, "C3": 15.0, "C4": 10.0, "C5": 7.5,
    "P1": 15.0, "P2": 10.0, "P3": 7.5, "P4": 5.0, "P5": 3.0, "P6": 2.0,
}  # fmt: skip

CLASS_FAMILIES = ("M", "C", "P")

#: The requirement's flow window (trailing, all kinds and both directions).
REQUIREMENT_WINDOW_S = 900.0
#: flow/capacity at or above the first: the rated class; at or above the second: one class
#: below; under it: two classes below (M roads only).
REQUIREMENT_THRESHOLDS = (0.35, 0.15)
#: A lamp is under-lit when its light is below the required level by more than this.
REQUIREMENT_MARGIN = 0.05


def class_ratio(cls: str, rated: str) -> float:
    """Light level of ``cls`` relative to the ``rated`` class of the same family."""
    return LIGHTING_CLASSES[cls] / LIGHTING_CLASSES[rated]


def class_step(cls: str, steps: int) -> str:
    """The class ``steps`` below ``cls`` in its family's EN 13201-2 series (negative: above),
    stopping at the series' ends."""
    family = [c for c in LIGHTING_CLASSES if c[0] == cls[0]]
    at = family.index(cls) + steps
    return family[min(max(at, 0), len(family) - 1)]


def required_steps(rated: str, ratio: float) -> int:
    """Classes below ``rated`` the requirement allows at flow/capacity ``ratio``: on M roads
    0, 1 or 2 by the traffic volume; on P and C roads (people on foot and bikes) 0, the
    rated class while anyone is there."""
    if rated[0] != "M":
        return 0
    high, low = REQUIREMENT_THRESHOLDS
    return 0 if ratio >= high else 1 if ratio >= low else 2


def required_class(rated: str, ratio: float) -> str:
    """The class the road's traffic warrants (``required_steps`` below ``rated``)."""
    return class_step(rated, required_steps(rated, ratio))


def layer_problem(op: str, level: float) -> str | None:
    """What is wrong with a layer (profile or override) of ``op`` at ``level``, or None: the
    one check the config, the CLI, the daemon's commands and Home Assistant all use."""
    if op not in ("set", "max", "min"):
        return f"op {op!r} is not set, max or min"
    if not 0.0 <= level <= 1.0:
        return f"level {level:g} is outside [0, 1]"
    return None
