"""What a replay is asked to do (:class:`ReplayOptions`) and how it fails (:class:`ReplayError`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from streams.feeds.files import FeedFileError
from streams.feeds.times import TimeWindow
from streams.settings import Settings


class ReplayError(FeedFileError):
    """A replay problem phrased as one line (unreadable file, unknown format, no broker)."""


@dataclass
class ReplayOptions:
    """What to replay and how: pace, event-time range, resume, validation rules."""

    speed: float | None = None  # None: as fast as possible
    start_ms: int | None = None
    end_ms: int | None = None
    resume: bool = False
    flush_every: int = 50_000
    known_ports: frozenset[str] | None = None
    window: TimeWindow | None = None
    max_bytes: int = 4096
    fallback_time_ms: int | None = None  # receive time of bare NMEA sentences
    stop_after: int | None = None  # stop after this many items (tests of resume)
    end_of_feed: bool = True  # replay-begin markers first, end-of-feed markers when complete
    outage_s: float = 30.0  # the broker acknowledging nothing this long is an outage
    wait: bool = False  # ride out an outage (with a line when it starts and ends) or stop


def options_from_settings(settings: Settings, **overrides: Any) -> ReplayOptions:
    """Replay options with the settings' validation rules: known ports from the
    geography, the accepted event-time window, the longest accepted line."""
    from streams.geo import load_geography

    return ReplayOptions(
        known_ports=frozenset(load_geography(settings.geography_file).ports),
        window=TimeWindow(int(settings.earliest_event_time.timestamp() * 1000),
                          int((time.time() + settings.future_tolerance_seconds) * 1000)),
        max_bytes=settings.max_record_bytes,
        **{"outage_s": settings.kafka_outage_seconds, **overrides},
    )

