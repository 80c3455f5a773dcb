"""End to end: a short simulated scenario through ``berthwatch backtest`` to HTML and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from streams.commands.backtest import backtest
from streams.feeds import Kind
from streams.feeds.files import detect_format, read_arrays
from streams.offline.monthly import monthly_report
from streams.tools.simulator import ScenarioOptions, simulate
from tests.conftest import SHARED_DATA


@pytest.fixture(scope="module")
def small_scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate(
        out,
        "random",
        ScenarioOptions(seed=7, start="2021-01-01", end="2021-01-24", ports=2, sites=2, items=10),
    )
    return out


def test_backtest_command_writes_html_and_json(small_scenario: Path, tmp_path: Path) -> None:
    feeds = [
        str(small_scenario / f)
        for f in ("positions.csv.gz", "containers.csv.gz", "inventory.csv.gz")
    ]
    report, out = tmp_path / "report.html", tmp_path / "result.json"
    res = CliRunner().invoke(
        backtest, [*feeds, "--report", str(report), "--json", str(out), "--quiet"]
    )
    assert res.exit_code == 0, res.output
    assert "Quality by family" in res.output
    assert "alert load: " in res.output
    doc = json.loads(out.read_text())
    labels = json.loads((small_scenario / "labels.json").read_text())
    assert doc["scenario"] == "random" and doc["seed"] == 7
    m = doc["metrics"]
    assert m["windows"] == len(labels["windows"]) == len(doc["windows"])
    assert 0 <= m["detected"] <= m["windows"]
    assert m["scored_series"] > 0 and m["false_alarms_per_series_per_90d"] >= 0
    for w in doc["windows"]:
        assert w["detected"] == (w["first_warning"] is not None)
        # the lead to the limit is from the warning in force at the crossing, if any
        assert (w["lead_to_limit_days"] is None) == (w["warning_at_limit"] is None)
    assert set(doc["feed_method"]) == {"positions.csv.gz", "containers.csv.gz", "inventory.csv.gz"}
    assert set(doc["feed_method"].values()) <= {"streams.feeds.chunks", "vectorized csv"}
    firing = [a for a in doc["alerts"] if a["state"] == "firing"]
    assert all(a["explanation"].startswith(a["series"]) for a in firing)
    load = doc["alert_load"]
    assert load["firings"] == len(firing)
    assert load["series_fired"] == len({a["series"] for a in firing})
    assert len(load["worst"]) == min(5, load["series_fired"])
    if firing:
        assert "Worst flappers" in res.output
        top = max(sum(a["series"] == s for a in firing) for s in {a["series"] for a in firing})
        assert load["worst"][0]["firings"] == top
    page = report.read_text()
    assert page.startswith("<!doctype html>") and "data:image/png;base64," in page
    assert "Labelled windows" in page and "Alert load" in page


def test_vectorized_reading_equals_the_feed_parser(small_scenario: Path, tmp_path: Path) -> None:
    for name in ("positions.csv.gz", "containers.csv.gz", "inventory.csv.gz"):
        path = small_scenario / name
        if name == "positions.csv.gz":  # a slice keeps the per-line parser quick
            import gzip

            lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)[:4000]
            path = tmp_path / name
            path.write_bytes(gzip.compress(b"".join(lines)))
        fmt = detect_format(path)
        arrays, bad = read_arrays(path, fmt)
        slow, slow_bad = read_arrays(path, fmt, vectorized=False)
        assert bad == slow_bad
        (kind,) = slow
        got, ref = arrays[kind], slow[kind]
        assert got.dtype == ref.dtype and len(got) == len(ref)
        order = np.lexsort((got["mmsi"] if kind is Kind.POSITION else got["ts_ms"], got["ts_ms"]))
        want = np.lexsort((ref["mmsi"] if kind is Kind.POSITION else ref["ts_ms"], ref["ts_ms"]))
        for f in got.dtype.names or ():
            np.testing.assert_array_equal(got[f][order], ref[f][want], err_msg=f"{name}: {f}")


def test_vectorized_reading_of_quoted_files(tmp_path: Path) -> None:
    p = tmp_path / "c.csv"
    p.write_text(
        'time,port,terminal,container,event\n2021-01-01T00:00:00Z,USLAX,"A,B",'
        "CSQU3054383,discharged\n"
    )
    arrays, bad = read_arrays(p, detect_format(p))
    assert bad == 0 and arrays[Kind.CONTAINER_EVENT]["terminal"].tolist() == [b"A,B"]


def test_backtest_needs_feeds() -> None:
    res = CliRunner().invoke(backtest, ["--quiet"])
    assert res.exit_code != 0 and "no FEED files" in res.output


@pytest.mark.skipif(not (SHARED_DATA / "gscpi").exists(), reason="shared data not present")
def test_monthly_real_series_report() -> None:
    rows = monthly_report(SHARED_DATA)
    names = {r["series"] for r in rows}
    assert {"gscpi", "us-inventories-to-sales", "long-beach-loaded-inbound-teu"} <= names
    gscpi = [r for r in rows if r["series"] == "gscpi"]
    # the supply-chain pressure of 2020-2022 (GSCPI peak 4.41 in December 2021, FACTS.md)
    # sets off an alert in that period, and every alert says why
    assert any(r["fired"] for r in gscpi)
    assert all("vs baseline" in f["why"] for r in rows for f in r["fired"])
    for r in rows:
        assert len(r["ts"]) == len(r["value"]) == len(r["score"])
