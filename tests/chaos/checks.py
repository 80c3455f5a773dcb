"""The comparisons every chaos scenario ends with, besides the alerts topic against the
backtest (:func:`tests.integration.harness.same_alerts`):

* :func:`feed_matches_files`: the feed topics against the files (every valid row on its
  topic, in its key's partition, exactly once; every rejected line a dead letter with
  its reason);
* :func:`state_gauges` and :func:`same_gauges`: the gauges that describe owned state,
  summed across workers, against one undisturbed worker's.
"""

from __future__ import annotations

import math
import urllib.request
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from streams.feeds.codec import encode_array, keys_of_array
from streams.feeds.files import detect_format, read_arrays
from streams.kafka.io import partition_for, read_topic_to_end
from streams.kafka.topics import FEED_TOPICS, TOPIC_OF_KIND
from streams.settings import Settings
from tests.integration.harness import Worker

Row = tuple[bytes, bytes, int]
"""A feed record as compared: key, value (canonical bytes), event time (ms)."""


def expected_feed(paths: Iterable[Path]) -> tuple[dict[str, Counter[Row]], dict[str, int]]:
    """What a replay of ``paths`` must leave on the feed topics (short name -> rows, each
    with its count) and how many lines of each file (by name) it must dead-letter."""
    rows: dict[str, Counter[Row]] = {short: Counter() for short in FEED_TOPICS}
    rejected: dict[str, int] = {}
    for path in paths:
        arrays, bad = read_arrays(path, detect_format(path))
        rejected[path.name] = bad
        for kind, arr in arrays.items():
            ts = arr["ts_ms"].astype("int64").tolist()
            rows[TOPIC_OF_KIND[kind]].update(
                zip(keys_of_array(arr, kind), encode_array(arr, kind), ts, strict=True))
    return rows, rejected


def feed_matches_files(settings: Settings, prefix: str, paths: Iterable[Path]) -> int:
    """Fail unless the feed topics under ``prefix`` hold exactly the valid rows of
    ``paths`` (end-of-feed markers aside), each as often as the files have it (once,
    but for a row a file repeats) and in its key's partition, and the
    dead-letter topic one letter with a reason per rejected line; returns the number of
    records compared."""
    want, rejected = expected_feed(paths)
    compared = 0
    for short, rows in want.items():
        got: Counter[Row] = Counter()
        misplaced = 0
        for r in read_topic_to_end(settings.kafka_bootstrap, prefix + short, timeout_s=120):
            if r.key is None:  # an end-of-feed marker
                continue
            assert r.value is not None
            got[(r.key, r.value, r.timestamp)] += 1
            misplaced += partition_for(r.key, settings.topic_partitions) != r.partition
        over = got - rows  # more often than in the files (a file may repeat a row)
        doubled = sum(n for row, n in over.items() if row in rows)
        extra = sum(n for row, n in over.items() if row not in rows)
        lost = sum((rows - got).values())
        assert (doubled, lost, extra, misplaced) == (0, 0, 0, 0), (
            f"{short}: {doubled} doubled, {lost} lost, {extra} not in the files, "
            f"{misplaced} in another partition than their key's")
        compared += sum(rows.values())
    letters: Counter[str] = Counter()
    for r in read_topic_to_end(settings.kafka_bootstrap, prefix + "deadletter", timeout_s=60):
        headers = {k: v.decode(errors="replace") for k, v in r.headers}
        assert headers.get("error_class"), f"a dead letter without a reason: {headers}"
        letters[headers.get("source_topic", "")] += 1
    for name, bad in rejected.items():
        assert letters[f"file:{name}"] == bad, (name, letters[f"file:{name}"], bad)
    return compared


#: gauges of what a worker owns (its partitions' watermarks, its shards' series and
#: alerts): summed across the workers of a deployment they equal one worker's
STATE_GAUGES = (
    "berthwatch_feed_complete", "berthwatch_watermark_seconds", "berthwatch_alerts_firing",
    "berthwatch_event_time_seconds", "berthwatch_vessels_waiting",
    "berthwatch_vessel_arrivals", "berthwatch_vessel_departures",
    "berthwatch_vessel_wait_seconds", "berthwatch_boxes_on_terminal",
    "berthwatch_boxes_past_limit", "berthwatch_container_dwell_seconds",
    "berthwatch_days_of_supply", "berthwatch_items_below_supply_limit",
    "berthwatch_item_days_of_supply", "berthwatch_disruption_index", "berthwatch_series_value",
    "berthwatch_detector_score", "berthwatch_detector_expected", "berthwatch_detector_lower",
    "berthwatch_detector_upper", "berthwatch_detector_limit",
    "berthwatch_detector_crossing_timestamp_seconds", "berthwatch_alert_active",
    "berthwatch_alert_since_timestamp_seconds",
)

Series = tuple[str, frozenset[tuple[str, str]]]

#: gauges that depend on wall-clock timing even in an undisturbed run (two runs of the
#: same feed differ), left out: the detectors' band of a sparse series (container dwell)
#: is exported from the last detection batch that scored it within its recent window,
#: and batch boundaries follow the broker's fetches, so whether and with which point a
#: series has a band differs from run to run
NOT_COMPARED = frozenset({"berthwatch_detector_expected", "berthwatch_detector_lower",
                          "berthwatch_detector_upper"})
#: gauges whose zero series may be absent: a worker exports 0 for an alert that resolved
#: while it ran, a worker that restored the shard exports its active alerts only
ZERO_IS_ABSENT = frozenset({"berthwatch_alert_active", "berthwatch_alert_since_timestamp_seconds"})
#: series compared by presence only: the features watermark stops at the lowest
#: partition not yet ended when the last one ends
PRESENCE_ONLY = frozenset({("berthwatch_watermark_seconds", frozenset({("stage", "features")}))})


def state_gauges(workers: Iterable[Worker]) -> dict[Series, float]:
    """The :data:`STATE_GAUGES` series (less :data:`NOT_COMPARED`) of the running
    ``workers``, summed per label set."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[Series, float] = {}
    for w in workers:
        if w.proc.poll() is not None:
            continue
        url = f"http://127.0.0.1:{w.web_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                if s.name in STATE_GAUGES and s.name not in NOT_COMPARED:
                    key = (s.name, frozenset(s.labels.items()))
                    out[key] = out.get(key, 0.0) + s.value
    return out


def gauge_diff(got: dict[Series, float], want: dict[Series, float]) -> list[str]:
    """The series that differ (missing, extra or, but for :data:`PRESENCE_ONLY`, of
    another value; a zero of :data:`ZERO_IS_ABSENT` is as good as none), one line each."""
    lines = []
    for key in sorted(set(got) | set(want), key=str):
        a, b = got.get(key), want.get(key)
        if key[0] in ZERO_IS_ABSENT and not a and not b:
            continue
        if a is None or b is None or (key not in PRESENCE_ONLY and
                                      not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)):
            lines.append(f"{key[0]}{dict(sorted(key[1]))}: {a} (want {b})")
    return lines


def same_gauges(got: dict[Series, float], want: dict[Series, float]) -> int:
    """Fail unless the two sets of state gauges are equal; returns how many series."""
    diff = gauge_diff(got, want)
    assert not diff, f"{len(diff)} of {len(want)} series differ: " + "; ".join(diff[:8])
    return len(want)


def total(gauges: dict[Series, float], name: str) -> float:
    """Sum of a gauge over all its series."""
    return sum(v for (n, _labels), v in gauges.items() if n == name)
