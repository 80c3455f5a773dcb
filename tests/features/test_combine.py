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


# --------------------------------------------------------------------------- idle sources

H = 3_600_000


def _p(end_ms: int, value: float, key: bytes = b"vessels_waiting|USLAX") -> Partials:
    return Partials(sums_key=np.array([key]), sums_end=np.array([end_ms], dtype=np.int64),
                    sums_val=np.array([value]))


def _released(points: FeaturePoints) -> dict[tuple[str, int], float]:
    return points.as_dict()


def test_an_idle_source_no_longer_holds_the_others_back() -> None:
    c = PartialsCombiner(3)
    assert c.add(0, _p(H, 1.0), H).key.size == 0
    assert c.add(1, _p(H, 2.0), H).key.size == 0  # source 2 has said nothing
    assert c.watermark < H
    got = c.add(2, Partials(), closed_ms=-1, idle=True)
    assert _released(got) == {("vessels_waiting|USLAX", 3600): 3.0}
    assert c.watermark == H and c.idle == [False, False, True]
    # from then on the active sources alone move the watermark
    c.add(0, _p(2 * H, 4.0), 2 * H)
    assert _released(c.add(1, _p(2 * H, 5.0), 3 * H)) == {("vessels_waiting|USLAX", 7200): 9.0}
    assert c.watermark == 2 * H and c.pending == {}


def test_when_every_source_is_idle_nothing_moves() -> None:
    c = PartialsCombiner(2)
    c.add(0, _p(H, 1.0), H)
    assert c.add(1, Partials(), 0, idle=True).key.size == 1  # 0 alone released H
    assert c.watermark == H
    assert c.add(0, Partials(), 5 * H, idle=True).key.size == 0
    assert c.watermark == H and c.released == H  # both idle: stays where it was
    # ... and an all-idle combiner that never released anything stays at nothing
    d = PartialsCombiner(2)
    d.add(0, _p(H, 1.0), H, idle=True)
    d.add(1, Partials(), 3 * H, idle=True)
    assert d.watermark == d.released < 0 and list(d.pending) == [H]


def test_real_partials_clear_the_idle_flag_and_hold_back_again() -> None:
    c = PartialsCombiner(2)
    c.add(1, Partials(), -1, idle=True)
    c.add(0, _p(2 * H, 1.0), 2 * H)  # released up to 2 h without source 1
    assert c.watermark == 2 * H
    # source 1 is back: an empty message, not idle, its boundary far behind
    assert c.add(1, Partials(), H).key.size == 0
    assert c.idle == [False, False]
    assert c.watermark == 2 * H  # never goes back...
    assert c.add(0, _p(3 * H, 1.0), 3 * H).key.size == 0  # ...but 3 h waits for source 1
    assert _released(c.add(1, _p(3 * H, 2.0), 3 * H)) == {("vessels_waiting|USLAX", 10800): 3.0}


def test_a_contribution_to_an_interval_released_without_it_is_dropped_and_counted() -> None:
    c = PartialsCombiner(2)
    c.add(1, Partials(), -1, idle=True)
    first = c.add(0, _p(H, 1.0), H)
    assert _released(first) == {("vessels_waiting|USLAX", 3600): 1.0}
    # source 1 wakes up with data for the interval already released: late
    late = c.add(1, _p(H, 5.0), H)
    assert late.key.size == 0 and c.late == [0, 1]
    assert c.pending == {}
    # a repeat of what a source already contributed (a restart) is not late
    c.add(0, _p(H, 1.0), H)
    assert c.late == [0, 1]


def test_snapshot_keeps_idle_flags_and_the_released_boundary() -> None:
    c = PartialsCombiner(3)
    c.add(0, _p(H, 1.0), 2 * H)
    c.add(1, _p(2 * H, 2.0), 2 * H)
    c.add(2, Partials(), -1, idle=True)
    c.add(0, _p(3 * H, 7.0), 3 * H)  # pending: source 1 has not closed 3 h
    d = PartialsCombiner(3)
    d.restore(c.snapshot())
    assert (d.idle, d.released, d.closed, d.emitted) == (c.idle, c.released, c.closed, c.emitted)
    assert list(d.pending) == [3 * H]
    # the restored one goes on identically: a late source 2, source 1 closing 3 h
    for x in (c, d):
        x.add(2, _p(H, 9.0), H)
    assert d.late == [0, 0, 1]
    assert _released(d.add(1, Partials(), 3 * H)) == _released(c.add(1, Partials(), 3 * H))


def test_a_snapshot_from_before_idle_sources_restores() -> None:
    from streams.features._state import save_npz

    arrays = {f"{name}.{H}.0": getattr(_p(H, 2.0), name)
              for name in ("sums_key", "sums_end", "sums_val", "samples_key", "samples_end",
                           "samples_val", "values_key", "values_end", "values_val",
                           "values_ts")}
    old = save_npz(arrays, {"closed": [H, -5], "emitted": -5, "index": [[H, 0, {}]]})
    c = PartialsCombiner(2)
    c.restore(old)
    assert c.idle == [False, False] and c.released == -5
    assert c.add(1, Partials(), 0, idle=True).as_dict() == {("vessels_waiting|USLAX", 3600): 2.0}


def test_a_report_from_a_replay_makes_every_idle_source_count_again() -> None:
    """Partitions that idled before a replay began must not let it run ahead of them."""
    c = PartialsCombiner(3)
    c.add(1, Partials(), -1, idle=True)
    c.add(2, Partials(), -1, idle=True)
    assert c.idle == [False, True, True]
    # source 0's first replayed records: sources 1 and 2 (markers not read yet) count again
    assert c.add(0, _p(H, 1.0), 2 * H, replaying=True).key.size == 0
    assert c.idle == [False, False, False] and list(c.pending) == [H]
    c.add(1, _p(H, 2.0), 2 * H, replaying=True)
    got = c.add(2, _p(H, 4.0), 2 * H, replaying=True)
    assert _released(got) == {("vessels_waiting|USLAX", 3600): 7.0} and c.late == [0, 0, 0]
