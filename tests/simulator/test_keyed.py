"""Keyed draws: a draw depends on its keys and stream, never on what is drawn beside it."""

from __future__ import annotations

import numpy as np

from simulator.keyed import KeyedDraws


def test_a_draw_is_the_same_alone_or_among_others() -> None:
    users, sensors = np.arange(5000), np.arange(5000) % 7
    draws = KeyedDraws(3)
    together = draws.uniform(1, users, sensors)
    some = np.array([4999, 17, 2500])
    np.testing.assert_array_equal(KeyedDraws(3).uniform(1, users[some], sensors[some]),
                                  together[some])  # fmt: skip
    assert not np.array_equal(draws.uniform(2, users, sensors), together)  # another stream
    assert not np.array_equal(KeyedDraws(4).uniform(1, users, sensors), together)  # seed
    assert not np.array_equal(draws.uniform(1, sensors, users), together)  # keys in order


def test_the_draws_have_their_distributions() -> None:
    draws, keys = KeyedDraws(1), np.arange(200_000)
    u = draws.uniform(1, keys)
    assert u.min() >= 0.0
    assert u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.005
    assert np.histogram(u, 10)[0].min() > 19_000  # 20,000 each, within a few hundred
    n = draws.normal(2, keys, 5)
    assert abs(n.mean()) < 0.01
    assert abs(n.std() - 1.0) < 0.01
    assert 0.002 < (np.abs(n) > 3).mean() < 0.0035  # 0.27 % beyond 3 sigma
    p = draws.poisson(3, np.full(len(keys), 0.3), keys)
    assert abs(p.mean() - 0.3) < 0.01
    assert abs(p.var() - 0.3) < 0.01
