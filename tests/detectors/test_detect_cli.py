"""``berthwatch detect`` on CSV files, through click's runner and without it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from streams.commands.detect import detect
from streams.offline import InputError as DetectInputError
from streams.offline.detect import score_rows


def spike_csv(iso: bool = True) -> str:
    lines = ["timestamp,value"]
    for i in range(60):
        value = 42.0 if i != 50 else 90.0
        if i in (51, 52):
            value = 91.0
        t = f"2021-10-{1 + i // 24:02d}T{i % 24:02d}:00:00Z" if iso else str(1633046400 + 3600 * i)
        lines.append(f"{t},{value}")
    return "\n".join(lines) + "\n"


def read(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_score_rows_without_click() -> None:
    scored = score_rows(io.StringIO(spike_csv()), "ewma")
    assert scored.fieldnames == ["timestamp", "value", "score", "alert"]
    scores = [float(r["score"]) for r in scored.rows]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert max(scores[:50]) == 0.0 and scores[50] > 0.99
    assert [r["alert"] for r in scored.rows[49:53]] == [0, 0, 1, 1]
    assert scored.n_alerts >= 1


def test_iso_and_epoch_give_the_same_scores() -> None:
    a = score_rows(io.StringIO(spike_csv(iso=True)), "cusum")
    b = score_rows(io.StringIO(spike_csv(iso=False)), "cusum")
    assert [r["score"] for r in a.rows] == [r["score"] for r in b.rows]


def test_cli_writes_out_file(tmp_path: Path) -> None:
    src = tmp_path / "queue.csv"
    src.write_text(spike_csv())
    out = tmp_path / "scored.csv"
    res = CliRunner().invoke(detect, [str(src), "--detector", "ewma", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = read(out.read_text())
    assert len(rows) == 60 and rows[51]["alert"] == "1" and rows[10]["alert"] == "0"


def test_cli_stdout_and_series_column(tmp_path: Path) -> None:
    src = tmp_path / "ports.csv"
    lines = ["port,timestamp,value"]
    for i in range(40):
        lines.append(f"USLAX,{1633046400 + 3600 * i},{10.0 if i != 35 else 30.0}")
        lines.append(f"USLGB,{1633046400 + 3600 * i},20.0")
    src.write_text("\n".join(lines) + "\n")
    res = CliRunner().invoke(detect, [str(src), "--series-column", "port", "--detector", "ewma"])
    assert res.exit_code == 0, res.output
    rows = read(res.stdout)
    lax = [float(r["score"]) for r in rows if r["port"] == "USLAX"]
    lgb = [float(r["score"]) for r in rows if r["port"] == "USLGB"]
    assert lax[35] > 0.99 and max(lgb) == 0.0


def test_cli_default_detector_is_changes(tmp_path: Path) -> None:
    src = tmp_path / "queue.csv"
    lines = ["timestamp,value"]
    for i in range(100):
        lines.append(f"{1633046400 + 3600 * i},{42.0 + (i % 3) * 0.5 + (20.0 if i == 80 else 0.0)}")
    src.write_text("\n".join(lines) + "\n")
    res = CliRunner().invoke(detect, [str(src)])
    assert res.exit_code == 0, res.output
    alert = [r["alert"] for r in read(res.stdout)]
    assert alert[80] == "1" and "1" not in alert[:80]


def test_trend_limit_option(tmp_path: Path) -> None:
    src = tmp_path / "anchor.csv"
    lines = ["timestamp,value"] + [f"{1633046400 + 86400 * d},{20 + 3 * d}" for d in range(12)]
    src.write_text("\n".join(lines) + "\n")
    res = CliRunner().invoke(detect, [str(src), "--detector", "trend", "--limit", "60"])
    assert res.exit_code == 0, res.output
    assert float(read(res.stdout)[-1]["score"]) > 0.8


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("timestamp,val\n2021-10-01T00:00:00Z,1\n", [], "missing column 'value'"),
        (
            "timestamp,value\n2021-10-01T00:00:00Z,1\nyesterday,2\n",
            [],
            "line 3: unparsable timestamp",
        ),
        ("timestamp,value\n2021-10-01T00:00:00Z,abc\n", [], "line 2: unparsable value"),
        ("timestamp,value\n1,2\n", ["--detector", "prophet"], "unknown detector 'prophet'"),
        ("timestamp,value\n1,2\n", ["--series-column", "port"], "missing column 'port'"),
        ("", [], "empty"),
        ("timestamp,value\n1,2\n", ["--limit", "5"], "--limit only applies"),
    ],
)
def test_bad_input_is_one_line_usage_error(
    tmp_path: Path, content: str, args: list[str], message: str
) -> None:
    src = tmp_path / "bad.csv"
    src.write_text(content)
    res = CliRunner().invoke(detect, [str(src), *args])
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output and not isinstance(res.exception, DetectInputError)


def test_missing_value_is_skipped_not_an_error() -> None:
    text = "timestamp,value\n1,1\n2,\n3,NaN\n4,1\n"
    scored = score_rows(io.StringIO(text), "ewma", warmup=0)
    assert [r["score"] for r in scored.rows][1:3] == ["0.000000", "0.000000"]


@pytest.mark.unit
@pytest.mark.parametrize("case", ["spike", "level", "stoppage"])
def test_detect_names_the_kind_of_change_on_its_rows(case: str) -> None:
    from streams.offline.tuning import BEFORE, SCENARIOS, scenario

    value = scenario(case, 1)
    lines = ["timestamp,value\n"] + [
        f"{1_600_000_000 + 3600 * i},{x:.6f}\n" for i, x in enumerate(value)
    ]
    scored = score_rows(lines, "changes")
    assert scored.fieldnames[-1] == "kind"
    flags = [r["alert"] for r in scored.rows]
    onsets = sum(1 for a, b in zip([0, *flags], flags, strict=False) if b and not a)
    assert onsets == 1  # one alert episode, named on each of its rows
    alerting = [r for r in scored.rows if r["alert"] == 1]
    assert alerting and all(r["kind"] for r in alerting)
    named, allowed = SCENARIOS[case]
    assert {r["kind"] for r in alerting} <= allowed | {named}
    assert all(r["kind"] == "" for r in scored.rows[: BEFORE - 1])
    # a detector without kinds adds no column
    assert "kind" not in score_rows(lines, "ewma").fieldnames
