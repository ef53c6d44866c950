"""docs/cli.md's JSON results are the command result models of ``edge.replies``: every field
the doc shows is the model's, and every field of the model is in the doc."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from edge.replies import ClusterRow, LampsResult, StatusResult, dump

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _example(heading: str) -> dict[str, Any]:
    """The first JSON block after the paragraph that starts with ``heading``."""
    text = DOC.read_text()
    after = text[text.index(f"\n{heading}") :]
    block = after.split("```json\n", 1)[1].split("```", 1)[0]
    data: dict[str, Any] = json.loads(block)
    return data


def _unknown(model: BaseModel, where: str = "") -> list[str]:
    """Fields of a parsed result that its model does not declare, at any depth."""
    out = [f"{where}{k}" for k in model.model_extra or {}]
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if isinstance(item, BaseModel):
                out += _unknown(item, f"{where}{name}[{i}].")
    return out


def test_the_status_example_is_the_model() -> None:
    doc = _example("`status`")
    status = StatusResult.model_validate(doc)
    assert _unknown(status) == []
    assert dump(status) == doc  # every field of the model is in the example, as sent
    arterial = status.clusters[0]
    assert arterial.failsafe
    assert arterial.failsafe_sensors[0].source == "serial radar-bus node 1"
    assert set(doc["clusters"][0]) == {
        (f.serialization_alias or name) for name, f in ClusterRow.model_fields.items()
    }


def test_the_lamps_example_is_the_model() -> None:
    doc = _example("`lamps --cluster cyclepath`")
    lamps = LampsResult.model_validate(doc)
    assert _unknown(lamps) == []
    assert dump(lamps) == doc
    failed = lamps.lamps[1]
    assert failed.faults == ["lamp_failure"]
    assert failed.power_w == failed.reported_power_w == 0.0
