"""streams.labels: what is written reads back the same, and the simulator's files round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.detection import MethodologyChange
from streams.labels import (
    Event,
    Labels,
    Window,
    labels_to_dict,
    load_benchmark_labels,
    load_labels,
    write_labels,
)
from streams.tools.simulator import ScenarioOptions, simulate

T0 = 1_609_459_200.0  # 2021-01-01
DAY = 86400.0


def _labels() -> Labels:
    return Labels(
        windows=[
            Window("vessels_waiting|P", "queue_buildup", T0 + DAY, T0 + 5 * DAY, T0 + 3 * DAY, "q"),
            Window("days_of_supply|S1|chip", "inventory_drawdown", T0, T0 + 9 * DAY, None),
        ],
        events=[
            Event(T0 + 2 * DAY, "counting_change", ("vessels_waiting|*",), "new count"),
            Event(T0 + 4 * DAY, "policy", ("dwell_truck_p90|P", "dwell_rail_p90|P"), "fee"),
        ],
        start=T0,
        end=T0 + 10 * DAY,
        scenario="random",
        seed=4,
    )


def test_write_then_read_gives_the_same_labels(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    write_labels(_labels(), path)
    assert load_labels(path) == _labels()
    assert load_labels(doc=json.loads(path.read_text())) == _labels()
    assert path.read_text().endswith("}\n")


def test_changes_are_the_counting_change_events() -> None:
    labels = _labels()
    assert [e.kind for e in labels.changes] == ["counting_change"]
    (change,) = MethodologyChange.from_labels(labels)
    assert change == MethodologyChange(T0 + 2 * DAY, ("vessels_waiting|*",), "new count")
    assert MethodologyChange.from_labels(labels_to_dict(labels)) == [change]


def test_times_are_written_to_the_second() -> None:
    doc = labels_to_dict(Labels([Window("s", "k", T0 + 0.6, T0 + DAY, None)]))
    assert doc["windows"][0]["onset"] == "2021-01-01T00:00:01Z"
    assert doc["windows"][0]["limit_crossed"] is None
    assert (doc["scenario"], doc["start"], doc["events"]) == (None, None, [])


def test_a_simulated_labels_file_reads_and_writes_back_byte_for_byte(tmp_path: Path) -> None:
    opts = ScenarioOptions(seed=2, start="2021-11-01", end="2021-11-30", sites=2, items=10)
    simulate(tmp_path / "sim", "san-pedro-bay-2021", opts, feeds=frozenset())
    original = (tmp_path / "sim" / "labels.json").read_bytes()
    labels = load_labels(tmp_path / "sim" / "labels.json")
    assert labels.scenario == "san-pedro-bay-2021" and labels.windows and labels.changes
    write_labels(labels, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == original


def test_benchmark_labels(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"a/x.csv": [["2021-01-02", "2021-01-03"], ["1970-01-01", "1"]]}))
    assert load_benchmark_labels(path) == {"a/x.csv": [(0.0, 1.0), (T0 + DAY, T0 + 2 * DAY)]}
    path.write_text(json.dumps({"a/x.csv": [["2021-01-03", "2021-01-02"]]}))
    with pytest.raises(ValueError, match="ends before it starts"):
        load_benchmark_labels(path)
    path.write_text("[]")
    with pytest.raises(ValueError, match="JSON object"):
        load_benchmark_labels(path)
