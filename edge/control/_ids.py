"""Lamp ids as byte arrays: a site of 100,000 lamps holds them and their look-up in ~3 MB,
where a tuple of strings and a dict to their indices took ~12 MB."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import overload

import numpy as np
import numpy.typing as npt

__all__ = ["IdIndex", "LampIds"]

IntArray = npt.NDArray[np.intp]


class LampIds(Sequence[str]):
    """Lamp ids in lamp order, found again by binary search in a sorted copy. Ids are ASCII
    (the config's id pattern); a NUL byte, which the array would drop at an id's end, is
    refused."""

    __slots__ = ("_ids", "_order", "_sorted")

    def __init__(self, ids: Iterable[str]) -> None:
        listed = list(ids)
        if any("\x00" in i for i in listed):
            raise ValueError("lamp ids: an id holds a NUL byte")
        try:
            self._ids = np.array(listed, dtype=np.bytes_) if listed else np.empty(0, "S1")
        except UnicodeEncodeError:
            raise ValueError("lamp ids: an id is not ASCII") from None
        self._ids.setflags(write=False)
        self._order: IntArray = np.argsort(self._ids, kind="stable")
        self._sorted = self._ids[self._order]

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        shown = ", ".join(self[:3]) + (", ..." if len(self) > 3 else "")
        return f"LampIds({len(self)}: {shown})"

    @overload
    def __getitem__(self, j: int) -> str: ...
    @overload
    def __getitem__(self, j: slice) -> list[str]: ...
    def __getitem__(self, j: int | slice) -> str | list[str]:
        if isinstance(j, slice):
            return [b.decode() for b in self._ids[j].tolist()]
        return str(self._ids[j].decode())

    def __iter__(self) -> Iterator[str]:
        return (b.decode() for b in self._ids.tolist())

    def __contains__(self, lamp_id: object) -> bool:
        return isinstance(lamp_id, str) and self.find(lamp_id) >= 0

    def take(self, lamps: IntArray) -> list[str]:
        """The ids of ``lamps`` (indices), in their order."""
        return [b.decode() for b in self._ids[lamps].tolist()]

    def find(self, lamp_id: str) -> int:
        """The index of ``lamp_id``, or -1."""
        try:
            key = lamp_id.encode("ascii")
        except UnicodeEncodeError:
            return -1
        at = int(np.searchsorted(self._sorted, key))
        if at < len(self._sorted) and self._sorted[at] == key:
            return int(self._order[at])
        return -1

    def index(self, lamp_id: str, start: int = 0, stop: int | None = None) -> int:
        j = self.find(lamp_id)
        if j < 0 or j < start or (stop is not None and j >= stop):
            raise ValueError(f"{lamp_id!r} is not a lamp id")
        return j

    def has_duplicates(self) -> bool:
        return bool(np.any(self._sorted[1:] == self._sorted[:-1]))


class IdIndex(Mapping[str, int]):
    """Lamp id -> index, as a view over ``LampIds`` (no dict of its own)."""

    __slots__ = ("_ids",)

    def __init__(self, ids: LampIds) -> None:
        self._ids = ids

    def __getitem__(self, lamp_id: str) -> int:
        j = self._ids.find(lamp_id) if isinstance(lamp_id, str) else -1
        if j < 0:
            raise KeyError(lamp_id)
        return j

    def __contains__(self, lamp_id: object) -> bool:
        return lamp_id in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)
