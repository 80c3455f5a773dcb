"""Batch-split invariance, partition merging and snapshot/restore of the vessel engine."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.features.geofence import Geofence
from streams.features.vessels import VesselConfig, VesselFeatures
from streams.features.windows import Partials, WindowConfig, merge_partials
from streams.geo import load_geography
from tests.features.helpers import (
    assert_points_identical,
    assert_same_state,
    delay_entity,
    jumble,
    split_at,
    synthetic_positions,
)

GEO = load_geography()
FENCE = Geofence(GEO)
CFG = VesselConfig(window=WindowConfig(interval_s=3600, lateness_s=1800))
_BASE = synthetic_positions(GEO, seed=7)
# Delay part of an anchored vessel's reports: late, but newer than what it sent before.
_ANCH = _BASE[(_BASE["nav_status"] == 1) & (_BASE["mmsi"] > 200_000_000)]
_M = int(np.unique(_ANCH["mmsi"])[0])
_MINE = (_BASE["mmsi"] == _M) & (_BASE["nav_status"] == 1)
_TAIL = _MINE & (_BASE["ts_ms"] > np.median(_BASE["ts_ms"][_MINE]))
FEED = jumble(delay_entity(_BASE, _TAIL, 300), seed=3)


def run(
    batches: list[np.ndarray], cfg: VesselConfig = CFG
) -> tuple[list[Partials], VesselFeatures]:
    eng = VesselFeatures(FENCE, cfg)
    parts = [eng.process(b) for b in batches]
    parts.append(eng.flush())
    return parts, eng


ONE_PARTS, ONE_ENGINE = run([FEED])
ONE = merge_partials(ONE_PARTS)


def test_feed_exercises_late_records_and_queue() -> None:
    assert ONE_ENGINE.stats["late"] > ONE_ENGINE.stats["late_applied"] > 0
    assert ONE_ENGINE.stats["excluded_mmsi"] == 40
    d = ONE.as_dict()
    assert max(v for (k, _), v in d.items() if k == "vessels_waiting|san-pedro-bay") >= 2
    assert sum(v for (k, _), v in d.items() if k == "arrivals|san-pedro-bay") >= 5


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, len(FEED)), max_size=12))
def test_batch_split_invariance(cuts: list[int]) -> None:
    parts, eng = run(split_at(FEED, cuts))
    assert_points_identical(merge_partials(parts), ONE)
    assert eng.stats == ONE_ENGINE.stats


@pytest.mark.parametrize("policy", ["state", "drop"])
def test_one_by_one_equals_one_batch(policy: str) -> None:
    cfg = VesselConfig(window=WindowConfig(interval_s=1800, lateness_s=600, late_policy=policy))  # type: ignore[arg-type]
    small = FEED[:400]
    whole, e1 = run([small], cfg)
    single, e2 = run([small[i : i + 1] for i in range(len(small))], cfg)
    assert_points_identical(merge_partials(whole), merge_partials(single))
    assert e1.stats == e2.stats


@pytest.mark.parametrize("n_parts", [2, 3, 5])
def test_partitioned_engines_merge_to_one(n_parts: int) -> None:
    # Lateness above the feed's disorder: no record is late for any partition.
    cfg = VesselConfig(window=WindowConfig(interval_s=3600, lateness_s=200 * 3600))
    feed = synthetic_positions(GEO, seed=11)
    whole_parts, _ = run([feed], cfg)
    end = int(feed["ts_ms"].max()) + 3_600_000
    parts: list[Partials] = []
    for p in range(n_parts):
        eng = VesselFeatures(FENCE, cfg)
        sub = feed[feed["mmsi"] % n_parts == p]
        for b in split_at(sub, [len(sub) // 3, len(sub) // 2]):
            parts.append(eng.process(b))
        parts.append(eng.flush(end))
    ref = VesselFeatures(FENCE, cfg)
    ref_parts = [ref.process(feed), ref.flush(end)]
    assert_points_identical(merge_partials(parts), merge_partials(ref_parts))
    assert len(merge_partials(whole_parts)) > 0


def test_snapshot_restore_continues_identically() -> None:
    batches = split_at(FEED, [len(FEED) // 4, len(FEED) // 2, 3 * len(FEED) // 4])
    eng = VesselFeatures(FENCE, CFG)
    first = [eng.process(b) for b in batches[:2]]
    blob = eng.snapshot()
    rest_a = [eng.process(b) for b in batches[2:]] + [eng.flush()]
    other = VesselFeatures(FENCE, CFG)
    other.restore(blob)
    rest_b = [other.process(b) for b in batches[2:]] + [other.flush()]
    assert_points_identical(merge_partials(first + rest_a), merge_partials(first + rest_b))
    assert_points_identical(merge_partials(first + rest_b), ONE)
    assert other.stats == eng.stats
    assert_same_state(other.snapshot(), eng.snapshot())


def test_restore_refuses_other_config() -> None:
    blob = VesselFeatures(FENCE, CFG).snapshot()
    with pytest.raises(ValueError, match="configuration"):
        VesselFeatures(FENCE, VesselConfig(min_dwell_s=60)).restore(blob)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(0, 600), max_size=8),
    st.sampled_from([600, 3600, 7200]),
    st.sampled_from([0, 300, 3600]),
    st.sampled_from(["state", "drop"]),
)
def test_batch_split_invariance_for_any_window(
    cuts: list[int], interval_s: int, lateness_s: int, policy: str
) -> None:
    cfg = VesselConfig(
        window=WindowConfig(interval_s=interval_s, lateness_s=lateness_s, late_policy=policy),  # type: ignore[arg-type]
        min_dwell_s=1200,
    )
    feed = FEED[:600]
    whole, e1 = run([feed], cfg)
    parts, e2 = run(split_at(feed, cuts), cfg)
    assert_points_identical(merge_partials(parts), merge_partials(whole))
    assert e1.stats == e2.stats
