"""The records berthwatch writes besides the feeds: dead letters, end-of-feed markers, alerts."""

from __future__ import annotations

import json
import math

import pytest

from streams.detection import AlertTransition
from streams.feeds import Rejection
from streams.kafka.records import (
    END_OF_FEED_HEADER,
    DeadLetter,
    checkpoint_key,
    decode_alert,
    encode_alert,
    end_of_feed_marker,
    end_of_feed_of,
    header,
)
from tests.feeds.test_feeds_nmea import SOCAL_LINE, one


def test_dead_letter_headers_carry_reason_and_position() -> None:
    res = one(SOCAL_LINE[:-2] + b"00")
    assert isinstance(res, Rejection)
    letter = DeadLetter("ais.raw", 3, 42, res.reason.value, res.message)
    headers = dict(letter.headers())
    assert list(headers) == ["source_topic", "source_partition", "source_offset",
                             "error_class", "error_message"]
    assert headers["error_class"] == b"bad_checksum"
    assert (headers["source_partition"], headers["source_offset"]) == (b"3", b"42")
    assert headers["source_topic"] == b"ais.raw" and headers["error_message"]
    assert DeadLetter.from_headers(letter.headers()) == letter


def test_a_dead_letter_of_a_file_line_names_the_file() -> None:
    letter = DeadLetter.of_line("positions.csv", 17, "out_of_range", "lat 91")
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        "file:positions.csv", -1, 17)
    # as consumers read them: bytes in, str out
    back = DeadLetter.from_headers([(k, bytearray(v)) for k, v in letter.headers()])
    assert back == letter


def test_end_of_feed_marker_round_trip() -> None:
    marker = end_of_feed_marker(1_640_995_200_000)
    assert (marker.key, marker.value, marker.timestamp_ms) == (None, b"", 1_640_995_200_000)
    assert marker.headers == [(END_OF_FEED_HEADER, b"1640995200000")]
    assert end_of_feed_of(marker.headers) == 1_640_995_200_000
    assert end_of_feed_of(None) is None
    assert end_of_feed_of(DeadLetter.of_line("f", 1, "r", "m").headers()) is None
    assert header([(END_OF_FEED_HEADER, b"5"), (END_OF_FEED_HEADER, b"6")],
                  END_OF_FEED_HEADER) == "5"


def test_checkpoint_key_names_group_stage_topic_partition() -> None:
    key = checkpoint_key("w.pipeline", "detect", "p.partials", 0)
    assert key == b"w.pipeline|detect|p.partials|0"


def test_alert_record_carries_name_and_labels_and_decodes_back() -> None:
    nan = math.nan
    a = AlertTransition("k", "firing", "days_of_supply|AUS-FAB2|MCU-32", "supply_trend",
                        "critical", 1.6e9, 1.5e9, 3.0, nan, 0.9, 5.0, 86400.0, nan, nan,
                        1.6001e9, "running low")
    doc = json.loads(encode_alert(a))
    assert doc["name"] == "BerthwatchSupplyRunningLow"
    assert doc["labels"] == {"series": a.series, "detector": "supply_trend",
                             "category": "supply", "site": "AUS-FAB2", "item": "MCU-32"}
    assert doc["expected"] is None and doc["ts_iso"] == "2020-09-13T12:26:40Z"
    back = decode_alert(encode_alert(a))
    assert (back.key, back.ts, back.limit, back.explanation) == (a.key, a.ts, a.limit,
                                                                 a.explanation)
    assert math.isnan(back.expected)
    with pytest.raises(KeyError):
        decode_alert(b'{"key": "k"}')
