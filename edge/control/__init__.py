"""The pure dimming policy: numpy arrays in, arrays out; no I/O, no clocks read.

Build a ``DimmingController`` from a ``SiteSpec`` and ``PolicyParams`` (``edge.site``
makes both from the config), then call ``step(now, observations)`` once per tick.
"""

from edge.control._controller import DimmingController
from edge.control._energy import REFERENCE_SCHEDULE, DriverCurve, schedule_level
from edge.control._explain import explain
from edge.control._ids import LampIds
from edge.control._inputs import (
    KINDS,
    CountsBatch,
    LampReport,
    LuxReading,
    Observation,
    Override,
    Profile,
    SensorCounts,
    SensorFault,
)
from edge.control._keyline import KeyLine
from edge.control._result import Event, Explanation, LayerEffect, SensorHealth, StepResult
from edge.control._spec import (
    ClusterSpec,
    EnergyParams,
    LampTable,
    NightParams,
    PolicyParams,
    PresenceParams,
    SensorSpec,
    SiteSpec,
)
from edge.lighting import (
    LIGHTING_CLASSES,
    REQUIREMENT_MARGIN,
    REQUIREMENT_THRESHOLDS,
    REQUIREMENT_WINDOW_S,
    class_ratio,
    class_step,
    layer_problem,
    required_class,
    required_steps,
)

__all__ = [
    "KINDS",
    "LIGHTING_CLASSES",
    "REFERENCE_SCHEDULE",
    "REQUIREMENT_MARGIN",
    "REQUIREMENT_THRESHOLDS",
    "REQUIREMENT_WINDOW_S",
    "ClusterSpec",
    "CountsBatch",
    "DimmingController",
    "DriverCurve",
    "EnergyParams",
    "Event",
    "Explanation",
    "KeyLine",
    "LampIds",
    "LampReport",
    "LampTable",
    "LayerEffect",
    "LuxReading",
    "NightParams",
    "Observation",
    "Override",
    "PolicyParams",
    "PresenceParams",
    "Profile",
    "SensorCounts",
    "SensorFault",
    "SensorHealth",
    "SensorSpec",
    "SiteSpec",
    "StepResult",
    "class_ratio",
    "class_step",
    "explain",
    "layer_problem",
    "required_class",
    "required_steps",
    "schedule_level",
]
