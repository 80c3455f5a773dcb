"""The whole pipeline on a few real series: finite scores, JSON and HTML with plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from streams.commands.evaluate import evaluate as evaluate_cmd
from streams.labels import load_benchmark_labels as load_labels
from streams.offline.detect import score_rows
from streams.offline.evaluation import (
    BASELINES,
    HELD_OUT,
    SERVICE,
    TUNING,
    evaluate,
    find_series,
    read_series,
    run_detector,
)
from streams.reports.evaluation import write_html, write_json

SOME = [
    "application-crash-rate-1/app1-01.csv",  # tuning
    "application-crash-rate-1/app1-02.csv",  # held-out
    "middle-tier-api-dependency-latency/outbound-01.csv",  # tuning
]


def cmd_folder(shared_data: Path) -> Path:
    return shared_data / "anomaly-cmd"


def test_run_detector_is_the_detect_code_path(shared_data: Path) -> None:
    folder = cmd_folder(shared_data)
    s = read_series(folder / "series", SOME[0], [])
    got = run_detector(s, "robust")
    with s.path.open(newline="") as fh:
        rows = score_rows(fh, "robust").rows
    assert got.score.tolist() == [float(r["score"]) for r in rows]
    assert got.alert.tolist() == [r["alert"] == 1 for r in rows]
    assert len(s.ts) == len(rows) and np.all(np.diff(s.ts) > 0)


def test_pipeline_on_three_real_series(shared_data: Path, tmp_path: Path) -> None:
    folder = cmd_folder(shared_data)
    labels = load_labels(folder / "labels.json")
    seen: list[str] = []
    report = evaluate(
        folder / "series",
        labels,
        ["robust", "ewma"],
        default="robust",
        progress=seen.append,
        only=SOME,
    )
    assert [s.name for s in report.series] == SOME
    assert report.split == {SOME[0]: TUNING, SOME[1]: HELD_OUT, SOME[2]: TUNING}
    assert len(seen) == len(SOME) * (2 + 1 + len(BASELINES))  # two detectors, the service
    assert set(report.entries) == {"robust", "ewma", SERVICE, *BASELINES}
    for e in report.entries.values():
        for h in (TUNING, HELD_OUT):
            s = e.halves[h]
            assert math.isfinite(s.score) and 0.0 <= s.score <= 1.0
            assert s.windows == sum(len(labels[n]) for n in SOME if report.split[n] == h)
        if e.kind == "baseline":
            assert e.threshold is not None and e.threshold > 0
    assert math.isfinite(report.ratio(TUNING))

    write_json(report, tmp_path / "evaluation.json")
    data = json.loads((tmp_path / "evaluation.json").read_text())
    assert data["default"] == "robust"
    assert set(data["entries"]["robust"]["per_series"]) == set(SOME)
    page = write_html(report, tmp_path, ["robust", "baseline-mad"])
    text = page.read_text()
    pngs = sorted((tmp_path / "plots").glob("*.png"))
    assert len(pngs) == len(SOME)
    assert all(p.stat().st_size > 1000 and p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    assert all(f"plots/{p.name}" in text for p in pngs)


def test_cli_on_linked_real_series(shared_data: Path, tmp_path: Path) -> None:
    """The command through click, on links to two real series (nothing copied)."""
    src = cmd_folder(shared_data) / "series"
    folder = tmp_path / "series"
    for name in SOME[:2]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(src / name)
    assert find_series(folder) == SOME[:2]
    all_labels = json.loads((cmd_folder(shared_data) / "labels.json").read_text())
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({n: all_labels[n] for n in SOME[:2]}))
    out = tmp_path / "out"
    res = CliRunner().invoke(
        evaluate_cmd,
        [str(folder), "--labels", str(labels), "--detector", "robust", "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert "held-out" in res.output and "robust" in res.output
    data = json.loads((out / "evaluation.json").read_text())
    assert set(data["entries"]) == {"robust", SERVICE, *BASELINES}
    assert (out / "index.html").is_file() and len(list((out / "plots").glob("*.png"))) == 2

    bad = CliRunner().invoke(evaluate_cmd, [str(folder), "--labels", str(labels), "-d"])
    assert bad.exit_code != 0
    bad = CliRunner().invoke(
        evaluate_cmd, [str(folder), "--labels", str(labels), "--detector", "nope"]
    )
    assert bad.exit_code == 2 and "unknown detector" in bad.output
