"""Every detector in ``detectors`` honours the contract of ``detectors.base``."""

from __future__ import annotations

import importlib
import pkgutil
import warnings

import numpy as np
import pytest

import detectors
from detectors.base import Detector


def discover() -> list[type[Detector]]:
    for mod in pkgutil.iter_modules(detectors.__path__):
        importlib.import_module(f"detectors.{mod.name}")
    found: list[type[Detector]] = []
    todo = list(Detector.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("detectors.") and not getattr(
            cls, "__abstractmethods__", None
        ):
            found.append(cls)
    return sorted(found, key=lambda c: c.name)


ALL = discover()


def test_discovery_finds_every_registered_detector() -> None:
    assert {c.name for c in ALL} == set(detectors.DETECTORS)
    assert len({c.name for c in ALL}) == len(ALL)


def stream(seed: int, n: int = 400, n_series: int = 7) -> tuple[np.ndarray, ...]:
    """Irregular, interleaved, with NaNs, a gap and a level shift."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n_series, n)
    ts = 1.6e9 + np.cumsum(rng.exponential(1800.0, n))
    ts[n // 2 :] += 30 * 86400.0  # a month-long gap for everybody
    value = 30.0 + rows * 5.0 + rng.normal(0.0, 2.0, n) + np.where(np.arange(n) > 300, 15.0, 0.0)
    value[rng.random(n) < 0.07] = np.nan
    return rows, ts, value


@pytest.fixture(params=ALL, ids=lambda c: c.name)
def cls(request: pytest.FixtureRequest) -> type[Detector]:
    return request.param


def test_shapes_bounds_and_no_warnings(cls: type[Detector]) -> None:
    rows, ts, value = stream(1)
    det = cls(warmup=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = det.update(rows, ts, value)
    assert res.score.shape == rows.shape and res.score.dtype == np.float64
    assert np.all((res.score >= 0.0) & (res.score <= 1.0))
    for name, arr in res.extras.items():
        assert arr.shape == rows.shape, name
    assert res.score.max() > 0.5  # the level shift after a gap is seen by every detector
    assert det.n_series == rows.max() + 1
    # a vector per series for the seasonal profile, five calibrated components for changes
    budget = {"seasonal": 17 * 24 + 16, "changes": 136}.get(cls.name, 64)
    assert det.state_bytes_per_series() <= budget


def test_deterministic(cls: type[Detector]) -> None:
    rows, ts, value = stream(2)
    a = cls(warmup=3).update(rows, ts, value)
    b = cls(warmup=3).update(rows, ts, value)
    np.testing.assert_array_equal(a.score, b.score)
    for k in a.extras:
        np.testing.assert_array_equal(a.extras[k], b.extras[k])


def test_nan_is_skipped(cls: type[Detector]) -> None:
    rows, ts, value = stream(3)
    det = cls(warmup=3)
    det.update(rows, ts, value)
    before = {k: v.copy() for k, v in det.state.items()}
    res = det.update(np.array([0, 1, 0]), ts[-1] + np.array([60.0, 120.0, 180.0]), [np.nan] * 3)
    np.testing.assert_array_equal(res.score, 0.0)
    for k, v in det.state.items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    # and NaNs in the middle of a batch change nothing for the other points
    clean = ~np.isnan(value)
    a = cls(warmup=3).update(rows, ts, value).score[clean]
    b = cls(warmup=3).update(rows[clean], ts[clean], value[clean]).score
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_warmup_gives_zero(cls: type[Detector]) -> None:
    rows, ts, value = stream(4)
    warm = 6
    res = cls(warmup=warm).update(rows, ts, value)
    seen = np.zeros(rows.max() + 1, dtype=int)
    for i, (r, v) in enumerate(zip(rows, value, strict=True)):
        if seen[r] < warm:
            assert res.score[i] == 0.0, (i, seen[r])
        if not np.isnan(v):
            seen[r] += 1


def test_gaps_and_time_going_backwards(cls: type[Detector]) -> None:
    det = cls(warmup=2)
    ts = np.array([0.0, 3600.0, 7200.0, 7200.0, 3600.0, 3.2e7, 3.2e7 + 3600.0]) + 1.6e9
    value = np.array([5.0, 5.5, 5.2, 5.3, 5.1, 9.0, 9.1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = det.update(np.zeros(7, dtype=np.int64), ts, value)
    assert np.all(np.isfinite(res.score)) and np.all((res.score >= 0) & (res.score <= 1))
    floats = [v[:1] for v in det.state.values() if v.dtype.kind == "f"]
    assert all(np.all(~np.isnan(v)) for v in floats)


def test_snapshot_restore_continues_identically(cls: type[Detector]) -> None:
    rows, ts, value = stream(5)
    a = cls(warmup=3)
    a.update(rows[:250], ts[:250], value[:250])
    blob = a.snapshot()
    b = cls(warmup=3)
    b.restore(blob)
    ra = a.update(rows[250:], ts[250:], value[250:])
    rb = b.update(rows[250:], ts[250:], value[250:])
    np.testing.assert_array_equal(ra.score, rb.score)
    for k in ra.extras:
        np.testing.assert_array_equal(ra.extras[k], rb.extras[k])
    with pytest.raises(ValueError, match="snapshot"):
        cls(warmup=4).restore(blob)


def test_batch_split_and_interleaving_do_not_matter(cls: type[Detector]) -> None:
    rows, ts, value = stream(6)
    whole = cls(warmup=3).update(rows, ts, value).score
    det = cls(warmup=3)
    parts = [
        det.update(rows[a:b], ts[a:b], value[a:b]).score for a, b in ((0, 1), (1, 77), (77, 400))
    ]
    np.testing.assert_allclose(whole, np.concatenate(parts), rtol=1e-9, atol=1e-9)
    # series are independent: one series alone gives the same scores as within the mix
    if cls.name != "composite":  # composite couples series of one group by design
        alone = cls(warmup=3).update(rows[rows == 2], ts[rows == 2], value[rows == 2]).score
        np.testing.assert_allclose(whole[rows == 2], alone, rtol=1e-9, atol=1e-9)


def test_empty_batch_and_large_rows(cls: type[Detector]) -> None:
    det = cls(warmup=1)
    res = det.update(np.array([], dtype=np.int64), np.array([]), np.array([]))
    assert res.score.shape == (0,)
    res = det.update(np.array([50_000, 3]), np.array([1.0, 2.0]), np.array([1.0, 2.0]))
    assert res.score.shape == (2,) and det.n_series == 50_001
    with pytest.raises(ValueError):
        det.update(np.array([-1]), np.array([1.0]), np.array([1.0]))
    with pytest.raises(ValueError):
        det.update(np.array([0, 1]), np.array([1.0]), np.array([1.0, 2.0]))
