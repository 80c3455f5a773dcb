"""The demo's closing alert load, on hand-built transitions and a feed folder with only its
``labels.json`` (no stack)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich.console import Console

from detectors import alert_key
from streams.detection import AlertTransition
from streams.settings import Settings
from streams.tools.demo import feed_dir, feed_span, print_load

DAY = 86400.0
T0 = 1_598_918_400.0  # 2020-09-01


def fire(series: str, detector: str, day: float, state: str = "firing") -> AlertTransition:
    nan = math.nan
    return AlertTransition(alert_key(series, detector, "warning"), state, series, detector,
                           "warning", T0 + day * DAY, T0 + day * DAY, 1.0, nan, 0.9, nan, nan,
                           nan, nan, nan, "")


def with_labels(tmp_path: Path) -> Settings:
    settings = Settings(stack_dir=tmp_path)
    feed_dir(settings).mkdir(parents=True)
    doc = {"scenario": "san-pedro-bay-2021", "start": "2020-09-01T00:00:00Z",
           "end": "2021-03-01T00:00:00Z", "windows": []}  # 181 days
    (feed_dir(settings) / "labels.json").write_text(json.dumps(doc), encoding="utf-8")
    return settings


def printed(settings: Settings, transitions: list[AlertTransition]) -> str:
    console = Console(record=True, width=200)
    print_load(settings, transitions, console)
    return console.export_text()


def test_span_is_the_feeds_or_else_the_transitions(tmp_path: Path) -> None:
    transitions = [fire("vessels_waiting|USLAX", "changes", d) for d in (3, 9)]
    assert feed_span(Settings(stack_dir=tmp_path), transitions) == (T0 + 3 * DAY, T0 + 9 * DAY)
    assert feed_span(with_labels(tmp_path), transitions) == (T0, T0 + 181 * DAY)


def test_closing_alert_load_and_budget(tmp_path: Path) -> None:
    settings = with_labels(tmp_path)
    la, lb = "vessels_waiting|USLAX", "vessels_waiting|USLGB"
    quiet = [fire(la, "changes", 10), fire(la, "changes", 12, "resolved"),
             fire(la, "queue_trend", 60), fire(lb, "changes", 20)]
    text = printed(settings, quiet)
    assert "alert load: 3 firings on 2 series in 181 days" in text
    assert "0 series fired more than once within 30 days" in text
    assert "Worst flappers" in text and "changes, queue_trend" in text and "50.0" in text
    assert "alert budget (no series firing twice within 30 days): kept" in text
    flapping = [*quiet, fire(lb, "queue_trend", 25)]
    text = printed(settings, flapping)
    assert "1 series fired more than once within 30 days" in text
    assert text.index(lb) < text.index(la)  # the 5-day gap flaps worse than the 50-day one
    assert "exceeded" in text
    assert "no series fired in 181 days" in printed(settings, [])
