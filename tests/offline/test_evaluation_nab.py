"""The evaluation's window scores (NAB profiles) on a small synthetic folder: the same
figures as :mod:`streams.offline.window_score` computed directly, a baseline's NAB
threshold chosen on the tuning half only, and the keys of ``evaluation.json``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from streams.commands.evaluate import evaluate as evaluate_cmd
from streams.offline import tuning
from streams.offline import window_score as ws
from streams.offline.evaluation import (
    BASELINE_THRESHOLDS,
    BASELINES,
    HELD_OUT,
    TUNING,
    Report,
    evaluate,
    read_series,
    run_detector,
)
from streams.reports.evaluation import CONSOLE_HEADER, console_rows, write_html

H = 3600.0
T0 = 1_600_000_000.0
N = 400  # NAB: 60 points of probation, one labelled run widened to 40 points
#: series -> (labelled run as first and last index, spikes as index -> height in |z|)
#: On the alternating 9, 11, 9, ... background the rolling z-score is 1 and a point of
#: 10 + A has |z| = A. The tuning series have false alarms of |z| 5 and their anomaly
#: at |z| 15, so the tuning half prefers a threshold above 5; the held-out anomaly is
#: only |z| 4, so the held-out half alone would prefer a threshold of at most 4.
SERIES: dict[str, tuple[tuple[int, int], dict[int, float]]] = {
    "ports/s1.csv": ((300, 301), {100: 5.0, 160: 5.0, 300: 15.0}),  # tuning
    "ports/s2.csv": ((250, 251), {250: 4.0}),  # held-out
    "ports/s3.csv": ((250, 251), {120: 5.0, 250: 15.0}),  # tuning
}
DETECTOR = "robust"


def values(spikes: dict[int, float]) -> np.ndarray:
    v = 10.0 + np.where(np.arange(N) % 2 == 0, -1.0, 1.0)
    for i, a in spikes.items():
        v[i] = 10.0 + a
    return v


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``series/`` with the three CSVs and ``labels.json`` beside it."""
    root = tmp_path_factory.mktemp("nab")
    labels = {}
    for name, ((i0, i1), spikes) in SERIES.items():
        path = root / "series" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [f"{T0 + i * H:.0f},{x!r}" for i, x in enumerate(values(spikes).tolist())]
        path.write_text("timestamp,value\n" + "\n".join(rows) + "\n", encoding="utf-8")
        labels[name] = [[f"{T0 + i0 * H:.0f}", f"{T0 + i1 * H:.0f}"]]
    (root / "labels.json").write_text(json.dumps(labels), encoding="utf-8")
    return root


def windows_of(name: str) -> list[tuple[float, float]]:
    i0, i1 = SERIES[name][0]
    return [(T0 + i0 * H, T0 + i1 * H)]


@pytest.fixture(scope="module")
def report(folder: Path) -> Report:
    labels = {n: windows_of(n) for n in SERIES}
    return evaluate(folder / "series", labels, [DETECTOR], default=DETECTOR)


def half(h: str) -> list[str]:
    return [n for n in SERIES if (n == "ports/s2.csv") == (h == HELD_OUT)]


def direct(folder: Path, names: list[str], alert_of: dict[str, np.ndarray]) -> dict[str, float]:
    """``window_score`` on ``names``, without the evaluation."""
    triples = []
    for n in names:
        s = read_series(folder / "series", n, windows_of(n))
        triples.append((s.ts, alert_of[n], s.windows))
    return ws.score_profiles(triples)


def baseline_z(folder: Path, base: str) -> dict[str, np.ndarray]:
    return {n: BASELINES[base](read_series(folder / "series", n, []).value) for n in SERIES}


def best_standard(folder: Path, names: list[str], z: dict[str, np.ndarray]) -> float:
    """The first threshold with the highest NAB standard score on ``names``."""
    return max(
        BASELINE_THRESHOLDS,
        key=lambda t: direct(folder, names, {n: z[n] >= t for n in names})["standard"],
    )


def test_split_is_two_tuning_one_held_out(report: Report) -> None:
    assert report.split == {n: HELD_OUT if n == "ports/s2.csv" else TUNING for n in SERIES}


def test_detector_nab_equals_window_score(folder: Path, report: Report) -> None:
    alerts = {
        n: run_detector(read_series(folder / "series", n, windows_of(n)), DETECTOR).alert
        for n in SERIES
    }
    e = report.entries[DETECTOR]
    assert e.nab_threshold is None
    for h in (TUNING, HELD_OUT):
        want = direct(folder, half(h), alerts)
        assert set(e.nab[h]) == set(ws.PROFILES) == {"standard", "reward_low_FP", "reward_low_FN"}
        assert e.nab[h] == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert e.nab[TUNING]["standard"] > 90.0  # it hits both strong tuning anomalies


def test_baseline_nab_threshold_is_chosen_on_tuning_half_only(folder: Path, report: Report) -> None:
    z = baseline_z(folder, "baseline-zscore")
    on_tuning = best_standard(folder, half(TUNING), z)
    on_held_out = best_standard(folder, half(HELD_OUT), z)
    assert on_tuning > 5.0 and on_held_out <= 4.0  # the two halves disagree
    e = report.entries["baseline-zscore"]
    assert e.nab_threshold == on_tuning
    assert e.threshold is not None  # the F-score threshold is reported too
    for h in (TUNING, HELD_OUT):
        want = direct(folder, half(h), {n: z[n] >= on_tuning for n in SERIES})
        assert e.nab[h] == pytest.approx(want, rel=1e-12, abs=1e-12)
    # at the tuning half's threshold the weak held-out anomaly is missed: never alerting
    assert e.nab[HELD_OUT]["standard"] == pytest.approx(0.0)
    assert e.nab[TUNING]["standard"] > 90.0


def test_every_baseline_nab_equals_window_score(folder: Path, report: Report) -> None:
    for base in BASELINES:
        z = baseline_z(folder, base)
        thr = best_standard(folder, half(TUNING), z)
        e = report.entries[base]
        assert e.nab_threshold == thr
        for h in (TUNING, HELD_OUT):
            want = direct(folder, half(h), {n: z[n] >= thr for n in SERIES})
            assert e.nab[h] == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_nab_ratio_against_the_better_baseline(report: Report) -> None:
    for h in (TUNING, HELD_OUT):
        best = max(report.entries[b].nab[h]["standard"] for b in BASELINES)
        got = report.nab_ratio(h)
        if best > 0:
            assert got == pytest.approx(report.entries[DETECTOR].nab[h]["standard"] / best)
        else:
            assert got == float("inf")


def test_terminal_and_page_carry_the_nab_columns(report: Report, tmp_path: Path) -> None:
    assert CONSOLE_HEADER[-3:] == ["NAB", "lowFP", "lowFN"]
    rows = {r[0]: r for r in console_rows(report)}
    assert all(len(r) == len(CONSOLE_HEADER) for r in rows.values())
    e = report.entries["baseline-zscore"]
    assert rows["baseline-zscore"][1] == f"{e.threshold:g}/{e.nab_threshold:g}"
    assert rows[DETECTOR + " *"][-3] == f"{report.entries[DETECTOR].nab[HELD_OUT]['standard']:.1f}"
    page = write_html(report, tmp_path, [DETECTOR]).read_text()
    assert "Window scoring (NAB profiles)" in page and "held-out low FN" in page


def test_cli_json_has_the_nab_keys(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(
        evaluate_cmd,
        [
            str(folder / "series"),
            "--labels",
            str(folder / "labels.json"),
            "--detector",
            DETECTOR,
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "NAB standard" in res.output and "lowFN" in res.output
    data = json.loads((out / "evaluation.json").read_text())
    assert set(data["nab_ratio_default_vs_best_baseline"]) == {TUNING, HELD_OUT}
    assert "nab" in data["rules"] and "ratio_default_vs_best_baseline" in data
    for name in (DETECTOR, *BASELINES):
        entry = data["entries"][name]
        assert {"kind", "threshold", "halves", "per_series", "nab", "nab_threshold"} <= set(entry)
        assert set(entry["nab"]) == {TUNING, HELD_OUT}
        assert set(entry["nab"][HELD_OUT]) == set(ws.PROFILES)
    assert data["entries"][DETECTOR]["nab_threshold"] is None
    assert data["entries"]["baseline-zscore"]["nab_threshold"] > 5.0


def test_tuning_report_prints_the_evaluation(folder: Path) -> None:
    lines: list[str] = []
    got = tuning.report(tuning.Corpus.read(folder), out=lines.append)
    e = got.entries["baseline-zscore"]
    row = next(x for x in lines if x.startswith("baseline-zscore"))
    assert row.split()[1] == f"{e.nab_threshold:g}/{e.threshold:g}"
    assert float(row.split()[2]) == pytest.approx(e.nab[TUNING]["standard"], abs=0.05)
    assert len(lines) == 1 + len(got.entries)
