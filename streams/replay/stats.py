"""What a replay sent, rejected and ignored (:class:`ReplayStats`): its summary and its plot."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from streams.times import iso_ms


@dataclass
class ReplayStats:
    """What a replay sent (per topic and day of event time), rejected and ignored."""

    sent: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    ignored: Counter[str] = field(default_factory=Counter)
    outside: int = 0
    first_ts_ms: int | None = None
    last_ts_ms: int | None = None
    wall_seconds: float = 0.0
    daily: Counter[tuple[str, int]] = field(default_factory=Counter)
    """Records sent per (topic, day of event time since the epoch), for the plot."""
    newest: dict[str, int] = field(default_factory=dict)
    """Newest event time (ms) sent per topic: the end-of-feed markers carry it."""
    markers: int = 0

    @property
    def records(self) -> int:
        return sum(self.sent.values())

    def count_days(self, topic: str, ts_ms: Any) -> None:
        days, counts = np.unique(np.asarray(ts_ms, dtype=np.int64) // 86_400_000,
                                 return_counts=True)
        for day, n in zip(days.tolist(), counts.tolist(), strict=True):
            self.daily[(topic, day)] += n
        if len(days):
            self.note_newest(topic, int(np.max(ts_ms)))

    def note_newest(self, topic: str, ts_ms: int) -> None:
        self.newest[topic] = max(self.newest.get(topic, ts_ms), ts_ms)

    def plot(self, path: Path) -> Path:
        """A PNG of what was sent per day of event time, and what was rejected and why."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), height_ratios=(3, 2))
        for topic in sorted({t for t, _ in self.daily}):
            days = sorted(d for t, d in self.daily if t == topic)
            top.plot([datetime.fromtimestamp(d * 86_400, UTC) for d in days],
                     [self.daily[(topic, d)] for d in days], label=topic, lw=1)
        top.set_yscale("log")
        top.set_ylabel("records per day")
        top.set_title(f"replay: {self.records:,} records sent, by event time")
        top.legend(fontsize=8)
        reasons = self.rejected.most_common()
        if reasons:
            bottom.barh([r for r, _ in reasons], [n for _, n in reasons], color="tab:red")
            bottom.set_xlabel("lines dead-lettered, by reason")
        else:
            bottom.text(0.5, 0.5, "no line rejected", ha="center", va="center")
            bottom.set_axis_off()
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=90)
        plt.close(fig)
        return path

    def summary(self) -> list[str]:
        lines = [
            f"sent {self.records:,} records in {self.wall_seconds:.1f}s "
            f"({self.records / max(self.wall_seconds, 1e-9):,.0f}/s)"
        ]
        lines += [f"  {topic}: {n:,}" for topic, n in sorted(self.sent.items())]
        if self.first_ts_ms is not None and self.last_ts_ms is not None:
            lines.append(f"event time {iso_ms(self.first_ts_ms)} .. {iso_ms(self.last_ts_ms)}")
        total_rejected = sum(self.rejected.values())
        lines.append(f"rejected {total_rejected:,} (to the dead-letter topic)")
        lines += [f"  {reason}: {n:,}" for reason, n in self.rejected.most_common()]
        if self.ignored:
            lines.append(
                "ignored " + ", ".join(f"{k} {n:,}" for k, n in self.ignored.most_common())
            )
        if self.outside:
            lines.append(f"outside --from/--to: {self.outside:,}")
        return lines
