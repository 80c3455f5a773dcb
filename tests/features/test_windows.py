"""Watermark, late classification and merging of partials."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.features.windows import (
    NONE,
    EventClock,
    Partials,
    WindowConfig,
    late_applicable,
    merge_partials,
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 10_000_000), min_size=1, max_size=60),
    st.integers(1, 100),
    st.integers(0, 5_000),
    st.lists(st.integers(0, 60), max_size=6),
)
def test_late_classification_follows_the_definition(
    ts: list[int], interval_s: int, lateness_s: int, cuts: list[int]
) -> None:
    cfg = WindowConfig(interval_s=interval_s, lateness_s=lateness_s)
    arr = np.array(ts, dtype=np.int64)
    clock = EventClock(cfg)
    got = []
    for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(arr)], strict=False):
        if a < b:
            got.append(clock.observe(arr[a:b]))
    before = np.concatenate(got) if got else np.empty(0, np.int64)
    # Independent: the watermark before record i is max(ts[:i]) - lateness; an
    # interval is closed when its end is at or below it.
    for i, t in enumerate(ts):
        if i == 0:
            assert before[i] == NONE
            continue
        wm = max(ts[:i]) - lateness_s * 1000
        closed = (wm // (interval_s * 1000)) * interval_s * 1000
        assert before[i] == closed
        assert (t < before[i]) == (t < closed)


def test_late_records_apply_only_when_newer_than_earlier_arrivals() -> None:
    ent = np.array([0, 0, 1, 0, 1, 1])
    ts = np.array([50, 70, 10, 60, 30, 5], dtype=np.int64)
    late = np.array([False, False, False, True, True, True])
    last = np.full(2, NONE, dtype=np.int64)
    got = late_applicable(ent, ts, late, last)
    # entity 0: 60 < 70 seen before -> no; entity 1: 30 > 10 -> yes; 5 < 30 -> no
    assert got.tolist() == [False, False, False, False, True, False]
    assert last.tolist() == [70, 30]


def test_merge_sums_quantiles_and_owned_values() -> None:
    a = Partials(
        sums_key=np.array([b"n|X", b"n|Y"]), sums_end=np.array([3_600_000, 3_600_000]),
        sums_val=np.array([2.0, 1.0]),
        samples_key=np.array([b"wait|X", b"wait|X", b"wait|Y"]),
        samples_end=np.array([3_600_000] * 3), samples_val=np.array([1.0, 5.0, np.nan]),
        values_key=np.array([b"v|A"]), values_end=np.array([3_600_000]),
        values_val=np.array([7.0]), values_ts=np.array([100]),
        quantiles={"wait": (50, 90)},
    )  # fmt: skip
    b = Partials(
        sums_key=np.array([b"n|X"]), sums_end=np.array([3_600_000]), sums_val=np.array([3.0]),
        samples_key=np.array([b"wait|X"]), samples_end=np.array([3_600_000]),
        samples_val=np.array([3.0]),
        values_key=np.array([b"v|A"]), values_end=np.array([3_600_000]),
        values_val=np.array([9.0]), values_ts=np.array([200]),
        quantiles={"wait": (50, 90)},
    )  # fmt: skip
    pts = merge_partials([a, b])
    d = pts.as_dict()
    assert d[("n|X", 3600)] == 5.0 and d[("n|Y", 3600)] == 1.0
    assert d[("wait_p50|X", 3600)] == np.quantile([1.0, 5.0, 3.0], 0.5)
    assert d[("wait_p90|X", 3600)] == pytest.approx(np.quantile([1.0, 5.0, 3.0], 0.9))
    assert np.isnan(d[("wait_p50|Y", 3600)])
    assert d[("v|A", 3600)] == 9.0  # the later report wins
    assert pts.key.tolist() == sorted(pts.key.tolist())
    assert merge_partials([b, a]).value.tobytes() == pts.value.tobytes()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=40), st.integers(1, 5))
def test_quantiles_match_numpy_and_ignore_how_samples_are_spread(
    vals: list[float], n_parts: int
) -> None:
    arr = np.array(vals)
    parts = [
        Partials(samples_key=np.array([b"dwell|T"] * len(chunk), dtype="S7"),
                 samples_end=np.zeros(len(chunk), np.int64), samples_val=chunk,
                 quantiles={"dwell": (10, 50, 90)})
        for chunk in np.array_split(arr, n_parts)
    ]  # fmt: skip
    d = merge_partials(parts).as_dict()
    for q in (10, 50, 90):
        assert d[(f"dwell_p{q}|T", 0)] == pytest.approx(np.quantile(arr, q / 100), abs=1e-6)
    whole = merge_partials([Partials(samples_key=np.array([b"dwell|T"] * len(arr)),
                                     samples_end=np.zeros(len(arr), np.int64), samples_val=arr,
                                     quantiles={"dwell": (10, 50, 90)})])  # fmt: skip
    assert whole.value.tobytes() == merge_partials(parts).value.tobytes()


def test_window_config_validates() -> None:
    with pytest.raises(ValueError):
        WindowConfig(interval_s=0)
    with pytest.raises(ValueError):
        WindowConfig(late_policy="keep")  # type: ignore[arg-type]
