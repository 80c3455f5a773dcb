"""Partials of one engine per partition, combined as they arrive, equal one engine."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.features.combine import PartialsCombiner
from streams.features.geofence import Geofence
from streams.features.vessels import VesselConfig, VesselFeatures
from streams.features.windows import FeaturePoints, Partials, WindowConfig, merge_partials
from streams.geo import load_geography
from tests.features.helpers import assert_points_identical, split_at, synthetic_positions

GEO = load_geography()
FENCE = Geofence(GEO)
# Lateness above the feed's disorder: no record is late for any partition.
CFG = VesselConfig(window=WindowConfig(interval_s=3600, lateness_s=200 * 3600))
FEED = synthetic_positions(GEO, seed=11)
END = int(FEED["ts_ms"].max()) + 3_600_000
N_PARTS = 3


def _reports() -> list[tuple[int, Partials, int]]:
    """What each partition's engine reports, batch by batch: (source, partials, closed)."""
    out = []
    for p in range(N_PARTS):
        eng = VesselFeatures(FENCE, CFG)
        sub = FEED[FEED["mmsi"] % N_PARTS == p]
        for b in split_at(sub, [len(sub) // 4, len(sub) // 2, 3 * len(sub) // 4]):
            out.append((p, eng.process(b), eng.clock.closed))
        out.append((p, eng.flush(END), eng.clock.closed))
    return out


REPORTS = _reports()


def _whole() -> FeaturePoints:
    eng = VesselFeatures(FENCE, CFG)
    return merge_partials([eng.process(FEED), eng.flush(END)])


WHOLE = _whole()


def _concat(points: list[FeaturePoints]) -> FeaturePoints:
    key = np.concatenate([p.key for p in points])
    end = np.concatenate([p.end_s for p in points])
    val = np.concatenate([p.value for p in points])
    order = np.lexsort((key, end))
    return FeaturePoints(key[order], end[order], val[order])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.permutations(range(len(REPORTS))))
def test_any_arrival_order_gives_one_engines_points(order: list[int]) -> None:
    # Reports of one partition keep their own order (a partition is read in order);
    # partitions interleave arbitrarily.
    rank = {i: k for k, i in enumerate(order)}
    by_source: dict[int, list[int]] = {}
    for i, (source, _p, _c) in enumerate(REPORTS):
        by_source.setdefault(source, []).append(i)
    queues = {s: sorted(ix, key=lambda i: i) for s, ix in by_source.items()}
    arrival = sorted(range(len(REPORTS)), key=lambda i: (rank[i], i))
    combiner = PartialsCombiner(N_PARTS)
    released: list[FeaturePoints] = []
    for i in arrival:
        source = REPORTS[i][0]
        j = queues[source].pop(0)  # the next report of that partition, in its own order
        _s, partials, closed = REPORTS[j]
        released.append(combiner.add(source, partials, closed))
    assert_points_identical(_concat(released), WHOLE)
    assert combiner.pending == {}


def test_nothing_is_released_until_every_partition_closed_it() -> None:
    combiner = PartialsCombiner(N_PARTS)
    for source, partials, closed in REPORTS:
        if source == N_PARTS - 1:
            continue
        assert combiner.add(source, partials, closed).key.size == 0
    assert combiner.pending


def test_a_repeated_report_does_not_double_counts() -> None:
    combiner = PartialsCombiner(N_PARTS)
    released = []
    for k, (source, partials, closed) in enumerate(REPORTS):
        released.append(combiner.add(source, partials, closed))
        if k % 2 == 0:  # a restarted worker sends the same report again
            released.append(combiner.add(source, partials, closed))
    assert_points_identical(_concat(released), WHOLE)


def test_snapshot_restore_continues_identically() -> None:
    half = len(REPORTS) // 2
    a = PartialsCombiner(N_PARTS)
    first = [a.add(*r) for r in REPORTS[:half]]
    b = PartialsCombiner(N_PARTS)
    b.restore(a.snapshot())
    rest_a = [a.add(*r) for r in REPORTS[half:]]
    rest_b = [b.add(*r) for r in REPORTS[half:]]
    assert_points_identical(_concat(first + rest_a), _concat(first + rest_b))
    assert_points_identical(_concat(first + rest_b), WHOLE)
    with pytest.raises(ValueError, match="sources"):
        PartialsCombiner(N_PARTS + 1).restore(a.snapshot())
