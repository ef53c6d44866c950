"""The engine's look-ups: the lamp nearest a road user, as a plain search would find it."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import parse_config
from edge.site import CoreSite
from simulator.nearest import nearest_lamps
from simulator.sites import generate_site


@pytest.mark.parametrize("queries", [10, 5000])  # a search, and the bucket passes
def test_the_lamp_nearest_a_road_user_is_the_nearest_on_its_road(queries: int) -> None:
    doc = generate_site(lamps=400, clusters=7)
    # lamps unevenly spaced on one road: a bucket holds several
    doc["clusters"][2]["lamps"] = [
        {"id": f"extra-{i}", "position_m": p, "nominal_w": 40} for i, p in enumerate((3, 4, 61))
    ]
    spec = CoreSite.of(parse_config(doc)).spec
    lamps, lengths = spec.lamps, np.array([c.length_m for c in spec.clusters])
    rng = np.random.default_rng(3)
    cluster = rng.integers(0, len(lengths), queries)
    pos = rng.uniform(0.0, 1.0, queries) * lengths[cluster]
    pos[:5] = lamps.position_m[lamps.cluster == cluster[0]][:5]  # on a lamp, and between two
    pos[5] = lamps.position_m[lamps.cluster == cluster[5]][:2].mean()
    got = nearest_lamps(spec)(cluster, pos)
    assert (lamps.cluster[got] == cluster).all()
    dist = np.abs(lamps.position_m[got] - pos)
    for c, p, d in zip(cluster, pos, dist, strict=True):
        assert d == np.abs(lamps.position_m[lamps.cluster == c] - p).min()
