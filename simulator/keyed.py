"""Random draws keyed by what they are for (a road user at a sensor, a sensor's report, a
sensor in a tick), not by the order they are made in: a night draws the same whether it runs
alone or beside other nights. A counter-based generator: each draw is a hash (splitmix64) of
the seed, the stream and the keys."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["KeyedDraws"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
# odd constants that spread each key over the whole word before the two mixing rounds
_SPREAD = tuple(np.uint64(c) for c in (0xD6E8FEB86659FD93, 0xA0761D6478BD642F,
                                        0xE7037ED1A0B428DB))  # fmt: skip
_UNIT = 2.0**-53


def _mix(z: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser, in place on an array of its own (uint64 arithmetic wraps)."""
    z += _GAMMA
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


class KeyedDraws:
    """Uniform, normal and Poisson draws for arrays of keys (up to three, each below 2**32),
    from ``seed``. ``stream`` keeps the draws of different purposes apart. A draw is the
    finaliser of splitmix64 on the stream's word plus each key times an odd constant: the
    counter splitmix64 itself would hash, one per combination of keys."""

    def __init__(self, seed: int) -> None:
        self._seed = int(_mix(np.array([seed & (2**64 - 1)], dtype=np.uint64))[0])
        self._streams: dict[int, np.uint64] = {}

    def _bits(self, stream: int, keys: tuple[npt.ArrayLike, ...]) -> npt.NDArray[np.uint64]:
        base = self._streams.get(stream)
        if base is None:
            word = np.array([self._seed ^ stream], dtype=np.uint64)
            base = self._streams[stream] = _mix(word)[0]
        z = np.asarray(keys[0]).astype(np.uint64) * _SPREAD[0]
        for key, spread in zip(keys[1:], _SPREAD[1:], strict=False):
            z += np.asarray(key).astype(np.uint64) * spread
        z += base
        return _mix(z)

    def uniform(self, stream: int, *keys: npt.ArrayLike) -> FloatArray:
        """In [0, 1), one per element of the (broadcast) keys."""
        out: FloatArray = (self._bits(stream, keys) >> np.uint64(11)).astype(np.float64)
        out *= _UNIT
        return out

    def normal(self, stream: int, *keys: npt.ArrayLike) -> FloatArray:
        """Standard normal: Box-Muller on the two halves of one keyed word."""
        bits = self._bits(stream, keys)
        u1 = 1.0 - (bits >> np.uint64(32)).astype(np.float64) * 2.0**-32  # (0, 1]: finite log
        u2 = (bits & np.uint64(0xFFFFFFFF)).astype(np.float64) * 2.0**-32
        out: FloatArray = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
        return out

    def poisson(self, stream: int, lam: FloatArray, *keys: npt.ArrayLike) -> IntArray:
        """Poisson with mean ``lam`` (small: a tick's share of an hourly rate), by inverting
        the distribution function at a keyed uniform."""
        u = self.uniform(stream, *keys)
        k = np.zeros(len(lam), dtype=np.intp)
        p = np.exp(-lam)
        cdf = p.copy()
        while True:
            more = (u >= cdf) & (p > 0)
            if not more.any():
                return k
            k += more
            p = np.where(more, p * lam / np.maximum(k, 1), 0.0)
            cdf += p
