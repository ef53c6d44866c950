"""Keep freed memory in the process for the next step (glibc only; elsewhere nothing).

A step of many nights side by side makes and frees arrays of a few hundred KB many times
over. glibc hands memory above its trim threshold back to the system as soon as it is free
and maps large blocks afresh, so each step faults its pages in again (some 180 faults a
step at 183 nights, a fifth of its time). Raised thresholds keep the pages: a process that
steps many nights at once does this when it starts. One night's arrays are small, and a
night alone ran some 13 % slower with it; the gateway daemon does not either."""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
TRIM_BYTES = 32 * 1024 * 1024  # free memory kept at the heap's top
MMAP_BYTES = 32 * 1024 * 1024  # blocks this large or larger are still mapped on their own


def keep_freed_memory() -> bool:
    """Raise glibc's trim and mmap thresholds for this process; whether it took."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES)) and bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES)
    )
