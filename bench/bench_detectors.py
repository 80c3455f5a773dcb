"""Benchmark the batched detectors against per-series baselines measured in the same run.

Baselines: (a) River's ``stats.EWMean`` + ``stats.EWVar`` kept per series in a
dict (the EWMA control chart's equivalent: z-score, then update), (b) the
plain per-event Python references in ``detectors.reference``. Streams: uniform
over 10k series, Zipf-skewed over 10k series, uniform over 1M series. Prints
nanoseconds per point, ratios, bytes of state per series, and whether the
batched path is at least as fast as the reference at batch sizes >= 1000.

    python bench/bench_detectors.py            # full run (about 2-3 minutes on 2 cores)
    python bench/bench_detectors.py --quick    # smaller streams (about 30 s)

This is a benchmark, not a test: it never fails on a time.
"""

from __future__ import annotations

import argparse
import math
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from detectors import DETECTORS
from detectors.reference import REFERENCES

GOALS = {  # stream -> (x River, x plain Python) for the batched EWMA
    "uniform-10k": (25.0, 15.0),
    "zipf-10k": (10.0, 7.0),
    "uniform-1M": (39.0, 16.0),
}


@dataclass
class Stream:
    name: str
    n_series: int
    rows: np.ndarray
    ts: np.ndarray
    value: np.ndarray


def make_stream(name: str, n_series: int, n_points: int, zipf: float | None, seed: int) -> Stream:
    rng = np.random.default_rng(seed)
    if zipf is None:
        rows = rng.integers(0, n_series, n_points)
    else:
        ranks = rng.zipf(zipf, 4 * n_points)
        ranks = ranks[ranks <= n_series][:n_points] - 1
        rows = rng.permutation(n_series)[ranks]  # heavy series anywhere in the row space
    ts = 1.6e9 + np.arange(n_points) * (3600.0 * n_series / n_points)  # ~hourly per series
    value = 50.0 + 0.001 * (rows % 1000) + rng.normal(0.0, 1.0, n_points)
    return Stream(name, n_series, rows.astype(np.int64), ts, value)


REPEATS = 3  # each timing is the best of this many runs (the machine may be shared)


def best_of(run: Callable[[], float]) -> float:
    return min(run() for _ in range(REPEATS))


def time_batched(
    factory: Callable[[], Any], s: Stream, batch: int, limit: int | None = None
) -> float:
    """Seconds per point for the batched detector fed ``batch`` points at a time."""
    n = len(s.rows) if limit is None else min(limit, len(s.rows))

    def run() -> float:
        det = factory()
        det.grow(s.n_series)  # allocate once, as a long-running worker would have
        t0 = time.perf_counter()
        for a in range(0, n, batch):
            det.update(s.rows[a : a + batch], s.ts[a : a + batch], s.value[a : a + batch])
        return (time.perf_counter() - t0) / n

    return best_of(run)


def time_reference(name: str, s: Stream, n: int) -> float:
    """Seconds per point for the plain per-event Python reference (a dict of states)."""
    rows, ts, value = s.rows[:n].tolist(), s.ts[:n].tolist(), s.value[:n].tolist()

    def run() -> float:
        update = REFERENCES[name]().update
        t0 = time.perf_counter()
        for r, t, v in zip(rows, ts, value, strict=True):
            update(r, t, v)
        return (time.perf_counter() - t0) / n

    return best_of(run)


def time_river(s: Stream, n: int) -> float:
    """Seconds per point for River's EWMean + EWVar per series: z-score, then learn."""
    from river import stats

    rows, value = s.rows[:n].tolist(), s.value[:n].tolist()

    def run() -> float:
        models: dict[int, tuple[Any, Any]] = {}
        t0 = time.perf_counter()
        for r, x in zip(rows, value, strict=True):
            m = models.get(r)
            if m is None:
                m = models[r] = (stats.EWMean(fading_factor=0.05), stats.EWVar(fading_factor=0.05))
            mean, var = m
            sd = math.sqrt(var.get())
            _z = abs(x - mean.get()) / sd if sd > 0 else 0.0
            mean.update(x)
            var.update(x)
        return (time.perf_counter() - t0) / n

    return best_of(run)


def river_bytes_per_series(n: int = 20_000) -> float:
    from river import stats

    tracemalloc.start()
    models = {
        i: (stats.EWMean(fading_factor=0.05), stats.EWVar(fading_factor=0.05)) for i in range(n)
    }
    for a, b in models.values():
        a.update(1.0)
        b.update(1.0)
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return size / n


def ns(x: float) -> str:
    return f"{x * 1e9:8.0f} ns"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller streams for a fast run")
    ap.add_argument("--batch", type=int, default=10_000, help="points per update call")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many runs per timing")
    args = ap.parse_args()
    global REPEATS
    REPEATS = args.repeats
    q = args.quick
    n10k = 200_000 if q else 1_000_000
    n1m = 1_000_000 if q else 3_000_000
    n_base = 100_000 if q else 300_000  # points timed for the per-point baselines
    n_base_1m = 300_000 if q else 1_000_000
    streams = [
        make_stream("uniform-10k", 10_000, n10k, None, 1),
        make_stream("zipf-10k", 10_000, n10k, 1.2, 2),
        make_stream("uniform-1M", 1_000_000, n1m, None, 3),
    ]

    print("== batched EWMA vs River (EWMean + EWVar per series) and the plain Python loop ==")
    print(
        f"{'stream':<12} {'batch':>7} {'batched':>11} {'river':>11} {'python':>11}"
        f" {'x river':>8} {'x python':>9}  goal (x river / x python)"
    )
    for s in streams:
        batch = args.batch
        nb = n_base_1m if s.n_series >= 1_000_000 else n_base
        t_b = time_batched(DETECTORS["ewma"], s, batch)
        t_r = time_river(s, nb)
        t_p = time_reference("ewma", s, nb)
        g_r, g_p = GOALS[s.name]
        mark = "met" if t_r / t_b >= g_r and t_p / t_b >= g_p else "NOT met"
        print(
            f"{s.name:<12} {batch:>7} {ns(t_b)} {ns(t_r)} {ns(t_p)} {t_r / t_b:8.1f}"
            f" {t_p / t_b:9.1f}  {g_r:.0f}x / {g_p:.0f}x: {mark}"
        )

    print("\n== bytes of state per series ==")
    for name, cls in sorted(DETECTORS.items()):
        print(f"{name:<12} {cls().state_bytes_per_series():5d} B")
    print(
        f"{'river EWMA':<12} {river_bytes_per_series():5.0f} B  (EWMean + EWVar objects, measured)"
    )

    print("\n== every detector: batched vs plain Python reference (x = speed-up) ==")
    sizes = [1_000, 10_000, 100_000]
    header = "".join(f" {'b=' + str(b):>9}" for b in sizes)
    print(f"{'detector':<10} {'stream':<12} {'python':>11}{header}  batched >= python at b>=1000")
    n_other = 50_000 if q else 200_000
    for name in sorted(DETECTORS):
        for s in streams[:2]:
            t_p = time_reference(name, s, min(n_other, 50_000))
            ratios = [t_p / time_batched(DETECTORS[name], s, b, limit=n_other) for b in sizes]
            ok = "yes" if min(ratios) >= 1.0 else "NO"
            cells = "".join(f" {r:8.1f}x" for r in ratios)
            print(f"{name:<10} {s.name:<12} {ns(t_p)}{cells}  {ok}")


if __name__ == "__main__":
    main()
