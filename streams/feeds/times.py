"""Event times: ISO 8601 or epoch seconds to int64 milliseconds since the epoch (UTC)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from streams.feeds.results import Reason, Rejection
from streams.times import MAX_S as _MAX_S
from streams.times import MIN_S as _MIN_S
from streams.times import format_ms

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Accepted event times, ``earliest_ms <= t <= latest_ms`` (ms since epoch).

    >>> w = TimeWindow.around(1_000_000, past_s=10, future_s=1)
    >>> w.check(1_000_500) is None, w.check(1_002_000).reason, w.check(980_000).reason
    (True, <Reason.TIME_IN_FUTURE: 'time_in_future'>, <Reason.TIME_TOO_OLD: 'time_too_old'>)
    """

    earliest_ms: int
    latest_ms: int

    @classmethod
    def around(cls, now_ms: int, *, past_s: float, future_s: float) -> TimeWindow:
        """Window from ``past_s`` seconds before ``now_ms`` to ``future_s`` after it."""
        return cls(now_ms - round(past_s * 1000), now_ms + round(future_s * 1000))

    def check(self, ts_ms: int) -> Rejection | None:
        """None when inside the window, else the rejection."""
        if ts_ms > self.latest_ms:
            return Rejection(
                Reason.TIME_IN_FUTURE,
                f"time {format_ms(ts_ms)} is after the window end {format_ms(self.latest_ms)}",
            )
        if ts_ms < self.earliest_ms:
            return Rejection(
                Reason.TIME_TOO_OLD,
                f"time {format_ms(ts_ms)} is before the window start {format_ms(self.earliest_ms)}",
            )
        return None


def epoch_seconds_to_ms(seconds: float, field: str = "time") -> int | Rejection:
    """Epoch seconds (float) to integer milliseconds, rounded to the nearest ms.

    >>> epoch_seconds_to_ms(1452468552.938)
    1452468552938
    """
    if not math.isfinite(seconds):
        return Rejection(Reason.NON_FINITE, f"{field} is {seconds}")
    if not _MIN_S <= seconds <= _MAX_S:
        return Rejection(Reason.WRONG_TYPE, f"{field} {seconds!r} is not a plausible epoch time")
    return round(seconds * 1000)


def parse_time(text: str, field: str = "time") -> int | Rejection:
    """ISO 8601 (``Z``, ``+hh:mm`` or naive meaning UTC) or epoch seconds, to ms.

    >>> parse_time("2023-01-11T00:00:01")
    1673395201000
    >>> parse_time("2023-01-11T01:00:01+01:00"), parse_time("1673395201.5")
    (1673395201000, 1673395201500)
    >>> parse_time("yesterday").reason
    <Reason.WRONG_TYPE: 'wrong_type'>
    """
    t = text.strip()
    if not t:
        return Rejection(Reason.MISSING_FIELD, f"{field} is empty")
    first = t[0]
    if first.isdigit() or first in "+-.":
        # Numbers: epoch seconds. ISO dates start with a digit too, so fall through
        # when float() refuses.
        try:
            seconds = float(t)
        except ValueError:
            pass
        else:
            return epoch_seconds_to_ms(seconds, field)
    if t.lower() in ("nan", "inf", "infinity", "-inf", "-infinity", "+inf"):
        return Rejection(Reason.NON_FINITE, f"{field} is {t}")
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        return Rejection(Reason.WRONG_TYPE, f"{field} {_clip(t)!r} is neither ISO 8601 nor epoch")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[:n] + "..."
