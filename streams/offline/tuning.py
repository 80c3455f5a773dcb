"""Tune the ``changes`` detector on the tuning half of the labelled series; report all detectors.

``python -m streams.offline.tuning [--data FOLDER]`` searches a small staged grid of the
parameters that matter on the **tuning half** only (``split_of``; held-out names
are refused), each configuration scored by the NAB standard profile
(:mod:`streams.offline.window_score`) of the alert onsets that ``score_rows`` (the code
path of ``berthwatch detect``) produces with the detector and its default alert
policy. All tuning series go through ``score_rows`` as one CSV with a series
column, so the detector scores them in one batch. A configuration is eligible
only if every synthetic change of :func:`scenario` raises exactly one alert
named with its kind, and it replaces the best so far only if it gains at least
``MIN_GAIN`` points (smaller differences are noise on 186 windows). It prints every
configuration and the winner.

``python -m streams.offline.tuning --report`` runs ``berthwatch evaluate``'s evaluation
(:func:`streams.offline.evaluation.evaluate`: every detector with its defaults, one
series at a time, and the two rolling baselines) and prints NAB standard, low-FP and
low-FN scores and the F-score per half. A baseline's threshold is chosen on the
tuning half, by the NAB standard score for the NAB columns and by the F-score for
the F-score column.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import detectors
from streams.labels import load_benchmark_labels
from streams.offline import evaluation as ev
from streams.offline import window_score as ws
from streams.offline.detect import score_rows

#: the detector being tuned
TUNED = "changes"
#: stages of the search: each stage tries every combination of its values around the best
#: configuration so far
STAGES: tuple[dict[str, tuple[float, ...]], ...] = (
    {"u_alarm": (3.5, 4.0, 4.5, 5.0), "rel_floor": (0.05, 0.1, 0.2)},
    {"level_halflife": (1800.0, 3600.0, 7200.0), "spread_halflife": (3 * 86400.0, 7 * 86400.0)},
    {"level_alarm": (1.0, 1.25, 1.5), "var_alarm": (1.25, 1.5), "ramp_alarm": (1.0, 1.25)},
    {"short_halflife": (7200.0, 10800.0, 21600.0), "base_halflife": (43200.0, 86400.0, 172800.0)},
)
DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "anomaly-cmd"
#: smallest gain in NAB standard points for a configuration to replace the best so far
MIN_GAIN = 0.5
#: points before and after the change of a synthetic scenario (hourly)
BEFORE, AFTER = 240, 200
#: scenario -> (kind the alert is named by the end of its episode, kinds it may fire with);
#: a variance change first shows as single deviations of either sign
SCENARIOS: dict[str, tuple[str, frozenset[str]]] = {
    "spike": ("spike", frozenset({"spike"})),
    "level": ("level up", frozenset({"spike", "level up"})),
    "ramp": ("ramp up", frozenset({"level up", "ramp up"})),
    "variance": (
        "variance up",
        frozenset(
            {"spike", "dip", "level up", "level down", "ramp up", "ramp down", "variance up"}
        ),
    ),
    "flatline": ("flatline", frozenset({"flatline"})),
    "stoppage": ("stoppage", frozenset({"dip", "stoppage"})),
}


def scenario(case: str, seed: int) -> np.ndarray:
    """An hourly synthetic series: a noisy stretch of ``BEFORE`` points, then one change.

    The noise is clipped at 3 standard deviations, so the change is the only anomaly:
    ``ramp`` a level with unit noise rising from 5 to 45 over 50 points; ``stoppage`` a
    count (Poisson) of 20 that drops to zero; on a level of 20 with unit noise,
    ``spike`` +15 at one point, ``level`` +12 from the change on, ``variance`` noise 8
    times larger, ``flatline`` the last value repeated.

    >>> v = scenario("ramp", 0)
    >>> len(v), round(float(v[:BEFORE].mean()), 1), round(float(v[-50:].mean()), 1)
    (440, 5.0, 45.1)
    """
    rng = np.random.default_rng(seed)
    n = BEFORE + AFTER

    def counts(lam: np.ndarray) -> np.ndarray:
        sd = np.sqrt(lam)
        return np.clip(rng.poisson(lam), np.ceil(lam - 3 * sd), np.floor(lam + 3 * sd))

    if case == "ramp":
        level = np.r_[np.full(BEFORE, 5.0), np.linspace(5.0, 45.0, 50), np.full(AFTER - 50, 45.0)]
        return level + np.clip(rng.normal(0.0, 1.0, n), -3.0, 3.0)
    if case == "stoppage":
        flow = counts(np.full(n, 20.0)).astype(float)
        flow[BEFORE:] = 0.0
        return flow
    value = 20.0 + np.clip(rng.normal(0.0, 1.0, n), -3.0, 3.0)
    if case == "spike":
        value[BEFORE] += 15.0
    elif case == "level":
        value[BEFORE:] += 12.0
    elif case == "variance":
        value[BEFORE:] = 20.0 + np.clip(rng.normal(0.0, 8.0, AFTER), -24.0, 24.0)
    elif case == "flatline":
        value[BEFORE:] = value[BEFORE - 1]
    elif case != "none":
        raise ValueError(f"unknown scenario {case!r}")
    return value


def scenario_alerts(case: str, seed: int) -> tuple[list[detectors.Transition], str]:
    """Warning transitions of the tuned detector (defaults, default policy) on a scenario,
    and the kind its last episode is named."""
    value = scenario(case, seed)
    n = len(value)
    rows, ts = np.zeros(n, dtype=np.int64), 1.6e9 + np.arange(n) * 3600.0
    res = detectors.DETECTORS[TUNED]().update(rows, ts, value)
    pol = detectors.AlertPolicy(TUNED).evaluate(rows, ts, res.score, value=value, result=res)
    got = [t for t in pol.transitions if t.severity == "warning"]
    return got, res.kind_name(n - 1)


def scenario_ok(case: str, seed: int) -> bool:
    """Exactly one alert, firing within 12 points of the change, named as it should be."""
    got, last = scenario_alerts(case, seed)
    firing = [t for t in got if t.state == "firing"]
    resolved = [t for t in got if t.state == "resolved"]
    if len(firing) != 1:
        return False
    final, at_firing = SCENARIOS[case]
    named = resolved[0].kind if resolved else last
    start = 1.6e9 + BEFORE * 3600.0
    return (
        0 <= firing[0].ts - start <= 12 * 3600.0 and firing[0].kind in at_firing and named == final
    )


def scenarios_passed(params: dict[str, Any], seeds: Sequence[int] = range(5)) -> int:
    """How many of the scenario runs (every case, every seed) ``params`` gets right."""
    with configured(TUNED, **params):
        return sum(scenario_ok(c, s) for c in SCENARIOS for s in seeds)


@dataclass
class Corpus:
    """Labelled series read from ``folder/series`` with ``folder/labels.json``."""

    folder: Path
    names: list[str]  # every CSV, for the split
    series: dict[str, ev.Series]

    @classmethod
    def read(cls, folder: Path) -> Corpus:
        labels = load_benchmark_labels(folder / "labels.json")
        names = ev.find_series(folder / "series")
        series = {n: ev.read_series(folder / "series", n, labels.get(n, [])) for n in names}
        return cls(folder, names, series)

    def half(self, half: str) -> list[str]:
        return [n for n in self.names if ev.split_of(n, self.names) == half]


def require_tuning(names: Sequence[str], everything: Sequence[str]) -> None:
    """Refuse any held-out series: tuning may only ever see the tuning half.

    >>> require_tuning(["a/1.csv"], ["a/1.csv", "a/2.csv"])
    >>> require_tuning(["a/2.csv"], ["a/1.csv", "a/2.csv"])
    Traceback (most recent call last):
    ...
    ValueError: held-out series given to tuning: a/2.csv
    """
    bad = [n for n in names if ev.split_of(n, everything) != ev.TUNING]
    if bad:
        raise ValueError(f"held-out series given to tuning: {', '.join(bad)}")


@contextmanager
def configured(name: str, **params: Any) -> Iterator[None]:
    """Within the block, ``detectors.DETECTORS[name]`` builds detectors with ``params``
    as defaults (so ``score_rows`` runs the configuration)."""
    base = detectors.DETECTORS[name]

    def factory(**kw: Any) -> detectors.Detector:
        return base(**{**params, **kw})

    detectors.DETECTORS[name] = factory  # type: ignore[assignment]
    try:
        yield
    finally:
        detectors.DETECTORS[name] = base


def alerts_of(corpus: Corpus, names: Sequence[str], detector: str) -> dict[str, np.ndarray]:
    """Per-point alerts of ``detector`` (defaults and default policy) on ``names``, all
    series in one CSV and one ``score_rows`` call."""
    lines = ["timestamp,value,series"]
    for n in names:
        s = corpus.series[n]
        lines += [f"{t!r},{v!r},{n}" for t, v in zip(s.ts.tolist(), s.value.tolist(), strict=True)]
    scored = score_rows(iter(lines), detector, series_column="series")
    key = np.array([r["series"] for r in scored.rows])
    alert = np.fromiter((int(r["alert"]) > 0 for r in scored.rows), bool, len(scored.rows))
    return {n: alert[key == n] for n in names}


def nab(corpus: Corpus, alerts: dict[str, np.ndarray]) -> dict[str, float]:
    """NAB scores (every profile) of per-series alerts."""
    return ws.score_profiles(
        [(corpus.series[n].ts, a, corpus.series[n].windows) for n, a in alerts.items()]
    )


def tuning_score(corpus: Corpus, names: Sequence[str], params: dict[str, Any]) -> float:
    """NAB standard score of the tuned detector with ``params`` on ``names`` (tuning only)."""
    require_tuning(names, corpus.names)
    with configured(TUNED, **params):
        return nab(corpus, alerts_of(corpus, names, TUNED))["standard"]


def search(corpus: Corpus, out: Callable[[str], None] = print) -> tuple[dict[str, Any], float]:
    """The staged grid on the tuning half; returns the winner and its score."""
    names = corpus.half(ev.TUNING)
    best: dict[str, Any] = {}
    best_score = tuning_score(corpus, names, best)
    n_runs = len(SCENARIOS) * 5
    out(
        f"defaults: NAB standard {best_score:.1f} on {len(names)} tuning series, "
        f"scenarios {scenarios_passed(best)}/{n_runs}"
    )
    for k, stage in enumerate(STAGES, 1):
        keys = list(stage)
        stage_best, stage_score = best, best_score
        for values in itertools.product(*(stage[key] for key in keys)):
            params = {**best, **dict(zip(keys, values, strict=True))}
            t0 = time.monotonic()
            got = tuning_score(corpus, names, params)
            passed = scenarios_passed(params)
            shown = ", ".join(f"{key}={v:g}" for key, v in zip(keys, values, strict=True))
            took = time.monotonic() - t0
            out(f"stage {k}: {shown:<56} {got:6.1f}  scenarios {passed}/{n_runs}  ({took:.0f} s)")
            if passed == n_runs and got >= stage_score + MIN_GAIN:
                stage_best, stage_score = params, got
        best, best_score = stage_best, stage_score
        out(f"stage {k} best: {best} -> {best_score:.1f}")
    return best, best_score


def report(corpus: Corpus, out: Callable[[str], None] = print) -> ev.Report:
    """Every detector and both baselines on both halves: NAB profiles and the F-score,
    as :func:`streams.offline.evaluation.evaluate` computes them; returns its report."""
    labels = {n: s.windows for n, s in corpus.series.items()}
    got = ev.evaluate(
        corpus.folder / "series", labels, sorted(detectors.DETECTORS), keep_scorings=False
    )
    halves = (ev.TUNING, ev.HELD_OUT)
    out(
        f"{'entry':<18}"
        + "".join(f"{h[:4] + ' ' + c:>11}" for h in halves for c in ("std", "lowFP", "lowFN", "F"))
    )
    for name, e in got.entries.items():  # detectors sorted, then the baselines
        cells = "".join(
            "".join(f"{e.nab[h][p]:>11.1f}" for p in ws.PROFILES) + f"{e.halves[h].score:>11.3f}"
            for h in halves
        )
        if e.kind == "baseline":
            name = f"{name} {e.nab_threshold:g}/{e.threshold:g}"
        out(f"{name:<18}{cells}")
    return got


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m streams.offline.tuning", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled data folder")
    parser.add_argument(
        "--report", action="store_true", help="score every detector on both halves instead"
    )
    args = parser.parse_args(argv)
    corpus = Corpus.read(args.data)
    t0 = time.monotonic()
    if args.report:
        report(corpus)
    else:
        best, score = search(corpus)
        print(f"winner: {best} NAB standard {score:.1f} (tuning half)")
    print(f"{time.monotonic() - t0:.0f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
