"""Contract shared by the container and inventory engines (the vessel engine has
its own module): batch-split invariance, one-by-one equals one batch,
partitioned engines merge to one, snapshot and restore."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.features.containers import ContainerConfig, ContainerFeatures
from streams.features.inventory import InventoryConfig, InventoryFeatures
from streams.features.windows import Partials, WindowConfig, merge_partials
from tests.features.helpers import (
    assert_points_identical,
    assert_same_state,
    container_events,
    delay_entity,
    inventory_snapshots,
    jumble,
    split_at,
)

Engine = ContainerFeatures | InventoryFeatures


def _containers() -> tuple[Callable[[], Engine], np.ndarray, Callable[[np.ndarray], Any]]:
    cfg = ContainerConfig(window=WindowConfig(interval_s=6 * 3600, lateness_s=3600))
    base = container_events(seed=5, n=150, days=12)
    feed = jumble(delay_entity(base, base["container"] == base["container"][40], 60), seed=2)
    return (lambda: ContainerFeatures(cfg)), feed, lambda a: a["container"]


def _inventory() -> tuple[Callable[[], Engine], np.ndarray, Callable[[np.ndarray], Any]]:
    cfg = InventoryConfig(window=WindowConfig(interval_s=86_400, lateness_s=6 * 3600))
    base = inventory_snapshots(seed=4, sites=3, items=8, days=12)
    sel = (base["site"] == b"SITE1") & (base["item"] == b"ITEM-002")
    feed = jumble(delay_entity(base, sel, 60), seed=9, window=30, n_late=6)
    return (
        (lambda: InventoryFeatures(cfg)),
        feed,
        lambda a: np.char.add(np.char.add(a["site"], b"|"), a["item"]),
    )


CASES = {"containers": _containers(), "inventory": _inventory()}


def run(make: Callable[[], Engine], batches: list[np.ndarray]) -> tuple[list[Partials], Engine]:
    eng = make()
    parts = [eng.process(b) for b in batches]
    parts.append(eng.flush())
    return parts, eng


REFERENCE = {name: run(make, [feed]) for name, (make, feed, _) in CASES.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_feed_has_late_records_applied_and_dropped(name: str) -> None:
    _, eng = REFERENCE[name]
    assert eng.stats["late"] > eng.stats["late_applied"] > 0


@pytest.mark.parametrize("name", list(CASES))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_batch_split_invariance(name: str, data: st.DataObject) -> None:
    make, feed, _ = CASES[name]
    cuts = data.draw(st.lists(st.integers(0, len(feed)), max_size=15))
    parts, eng = run(make, split_at(feed, cuts))
    ref_parts, ref = REFERENCE[name]
    assert_points_identical(merge_partials(parts), merge_partials(ref_parts))
    assert eng.stats == ref.stats


@pytest.mark.parametrize("name", list(CASES))
def test_one_record_per_batch(name: str) -> None:
    make, feed, _ = CASES[name]
    parts, eng = run(make, [feed[i : i + 1] for i in range(len(feed))])
    ref_parts, ref = REFERENCE[name]
    assert_points_identical(merge_partials(parts), merge_partials(ref_parts))
    assert eng.stats == ref.stats


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("n_parts", [2, 4])
def test_partitioned_engines_merge_to_one(name: str, n_parts: int) -> None:
    make, feed, key_of = CASES[name]
    feed = feed[np.argsort(feed["ts_ms"], kind="stable")]  # no late records anywhere
    end = int(feed["ts_ms"].max()) + 86_400_000
    ref = make()
    ref_pts = merge_partials([ref.process(feed), ref.flush(end)])
    part = np.array([zlib.crc32(bytes(k)) % n_parts for k in key_of(feed).tolist()])
    parts: list[Partials] = []
    for p in range(n_parts):
        eng = make()
        sub = feed[part == p]
        for b in split_at(sub, [len(sub) // 2]):
            parts.append(eng.process(b))
        parts.append(eng.flush(end))
    assert_points_identical(merge_partials(parts), ref_pts)
    assert_points_identical(merge_partials(parts[::-1]), ref_pts)


@pytest.mark.parametrize("name", list(CASES))
def test_snapshot_restore(name: str) -> None:
    make, feed, _ = CASES[name]
    batches = split_at(feed, [len(feed) // 3, len(feed) // 2])
    eng = make()
    head = [eng.process(b) for b in batches[:2]]
    blob = eng.snapshot()
    tail_a = [eng.process(batches[2]), eng.flush()]
    other = make()
    other.restore(blob)
    tail_b = [other.process(batches[2]), other.flush()]
    assert_points_identical(merge_partials(head + tail_a), merge_partials(head + tail_b))
    assert_points_identical(merge_partials(head + tail_b), merge_partials(REFERENCE[name][0]))
    assert_same_state(other.snapshot(), eng.snapshot())
