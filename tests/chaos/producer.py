"""One of several producers of a feed, for the clock-skew scenario.

``python -m tests.chaos.producer [--speed N] FILE...`` replays the files like
``berthwatch replay`` but without the end-of-feed markers (another producer is still
sending); ``python -m tests.chaos.producer --end-of-feed FILE...`` sends only the markers
a replay of all of FILE... ends with (each feed topic's newest event time), once every
producer is done.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from streams.feeds.files import detect_format, read_arrays
from streams.kafka.records import end_of_feed_marker
from streams.kafka.topics import MARKED_TOPICS, TOPIC_OF_KIND
from streams.replay import ReplayOptions, replay
from streams.replay.options import options_from_settings
from streams.settings import Settings, load_settings


def newest_per_topic(paths: list[Path]) -> dict[str, int]:
    """Each feed topic's newest event time (ms) in the files."""
    newest: dict[str, int] = {}
    for path in paths:
        arrays, _bad = read_arrays(path, detect_format(path))
        for kind, arr in arrays.items():
            if len(arr):
                short = TOPIC_OF_KIND[kind]
                newest[short] = max(newest.get(short, 0), int(arr["ts_ms"].max()))
    return newest


def send_end_of_feed(settings: Settings, paths: list[Path]) -> int:
    """The end-of-feed markers of a replay of ``paths``, in every partition of every feed
    topic (a topic without records of its own gets the overall newest, as in a replay)."""
    from kafka import KafkaProducer

    newest = newest_per_topic(paths)
    overall = max(newest.values())
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    sent = 0
    try:
        for short in MARKED_TOPICS:
            marker = end_of_feed_marker(newest.get(short, overall))
            topic = settings.topic(short)
            for part in sorted(producer.partitions_for(topic)):
                producer.send(topic, key=marker.key, value=marker.value, partition=part,
                              timestamp_ms=marker.timestamp_ms, headers=list(marker.headers))
                sent += 1
        producer.flush()
    finally:
        producer.close()
    return sent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.producer")
    parser.add_argument("--speed", type=float, default=None)
    parser.add_argument("--end-of-feed", action="store_true")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.end_of_feed:
        print(f"{send_end_of_feed(settings, args.files)} end-of-feed markers sent")
        return 0
    options: ReplayOptions = options_from_settings(settings, speed=args.speed, end_of_feed=False)
    stats = asyncio.run(replay(settings, args.files, options))
    print(f"sent {stats.records} records")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
