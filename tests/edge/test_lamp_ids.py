"""Lamp ids kept as byte arrays: the same answers as a tuple and a dict would give."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.control import ClusterSpec, LampIds, LampTable, SiteSpec
from edge.control._ids import IdIndex

ID = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", min_size=1,
    max_size=20,
)  # fmt: skip


@given(ids=st.lists(ID, unique=True, max_size=60), probe=ID)
def test_ids_answer_as_a_tuple_and_a_dict_would(ids: list[str], probe: str) -> None:
    lamp_ids = LampIds(ids)
    assert len(lamp_ids) == len(ids)
    assert list(lamp_ids) == ids
    assert [lamp_ids[j] for j in range(len(ids))] == ids
    assert lamp_ids[1:4] == ids[1:4]
    if ids:
        assert lamp_ids[-1] == ids[-1]
    index = {lamp: j for j, lamp in enumerate(ids)}
    assert dict(IdIndex(lamp_ids)) == index
    assert lamp_ids.find(probe) == index.get(probe, -1)
    assert (probe in lamp_ids) == (probe in index)
    picks = np.arange(len(ids), dtype=np.intp)[::-2]
    assert lamp_ids.take(picks) == [ids[j] for j in picks.tolist()]


def test_a_missing_id_is_an_error_of_its_kind() -> None:
    lamp_ids = LampIds(["road-001", "road-002"])
    assert lamp_ids.index("road-002") == 1
    with pytest.raises(ValueError, match="'road-003' is not a lamp id"):
        lamp_ids.index("road-003")
    with pytest.raises(KeyError):
        IdIndex(lamp_ids)["road-003"]
    with pytest.raises(IndexError):
        lamp_ids[2]
    assert "rue-é" not in lamp_ids
    assert 7 not in lamp_ids


def test_ids_that_bytes_cannot_keep_are_refused() -> None:
    with pytest.raises(ValueError, match="not ASCII"):
        LampIds(["rue-é"])
    with pytest.raises(ValueError, match="NUL"):
        LampIds(["lamp\x00"])


def test_a_site_with_a_lamp_id_twice_is_refused() -> None:
    road = ClusterSpec(id="a", length_m=100, speed_limit_mps=10, capacity_per_h=1000,
                       ladder=("M3", "M4"), two_way=True)  # fmt: skip
    ids = ["a-1", "a-2", "a-1"]
    table = LampTable.from_columns(
        ids=ids, cluster=[0, 0, 0], position_m=[0, 1, 2], nominal_w=[1, 1, 1],
        floor=[0, 0, 0], ceiling=[1, 1, 1],
    )  # fmt: skip
    with pytest.raises(ValueError, match="duplicate lamp ids"):
        SiteSpec(clusters=(road,), sensors=(), lamps=table)
