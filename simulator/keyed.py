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
    """splitmix64's finaliser, on an array (uint64 arithmetic wraps, as it should)."""
    z = z + _GAMMA
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    out: npt.NDArray[np.uint64] = z ^ (z >> np.uint64(31))
    return out


class KeyedDraws:
    """Uniform, normal and Poisson draws for arrays of keys (up to three, each below 2**32),
    from ``seed``. ``stream`` keeps the draws of different purposes apart."""

    def __init__(self, seed: int) -> None:
        self._seed = _mix(np.array([seed & (2**64 - 1)], dtype=np.uint64))

    def _bits(self, stream: int, keys: tuple[npt.ArrayLike, ...]) -> npt.NDArray[np.uint64]:
        z = _mix(self._seed ^ np.uint64(stream))
        for key, spread in zip(keys, _SPREAD, strict=False):
            z = z + np.asarray(key).astype(np.uint64) * spread
        return _mix(_mix(z))

    def uniform(self, stream: int, *keys: npt.ArrayLike) -> FloatArray:
        """In [0, 1), one per element of the (broadcast) keys."""
        out: FloatArray = (self._bits(stream, keys) >> np.uint64(11)).astype(np.float64)
        out *= _UNIT
        return out

    def normal(self, stream: int, *keys: npt.ArrayLike) -> FloatArray:
        """Standard normal (Box-Muller on two keyed uniforms)."""
        u1 = 1.0 - self.uniform(stream, *keys)  # (0, 1]: the log is finite
        u2 = self.uniform(stream ^ 0x5A5A5A5A, *keys)
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
