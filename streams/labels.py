"""Ground-truth labels: their schema, and the one reader and writer of each label file.

Two file formats:

* ``labels.json`` as the simulator writes it (:func:`load_labels`, :func:`write_labels`):
  ``{"scenario", "seed", "start", "end", "windows": [...], "events": [...]}``. A window
  is ``{"series", "kind", "onset", "end", "limit_crossed", "description"}`` with ISO 8601
  UTC times (``limit_crossed`` may be null). Series keys:
  ``vessels_waiting|<port or region>``, ``vessels_at_anchor|<region>``,
  ``dwell_truck_p90|<port>``, ``dwell_rail_p90|<port>``,
  ``days_of_supply|<site>|<item>``. An event marks something a detector must not report
  as a disruption (``counting_change``: a methodology change) or context (``policy``):
  ``{"time", "kind", "series", "description"}``. The backtest scores against the
  windows; the detection stage re-baselines at the counting changes.
* the public anomaly benchmark's labels (:func:`load_benchmark_labels`):
  ``{"relative/path.csv": [["start", "end"], ...]}``, inclusive windows per file.

>>> doc = {"scenario": "random", "seed": 1, "start": "2021-01-01T00:00:00Z",
...        "windows": [{"series": "vessels_waiting|P", "kind": "queue_buildup",
...                     "onset": "2021-01-02T00:00:00Z", "end": "2021-01-05T00:00:00Z"}],
...        "events": [{"time": "2021-01-03T00:00:00Z", "kind": "counting_change",
...                    "series": ["vessels_waiting|*"]}]}
>>> labels = load_labels(doc=doc)
>>> labels.windows[0].onset - labels.start, labels.changes[0].series
(86400.0, ('vessels_waiting|*',))
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.times import iso, parse_optional, parse_timestamp

__all__ = [
    "COUNTING_CHANGE",
    "Event",
    "Labels",
    "Window",
    "labels_to_dict",
    "load_benchmark_labels",
    "load_labels",
    "write_labels",
]

#: the event kind of a methodology change (a new way of counting, not a disruption)
COUNTING_CHANGE = "counting_change"


@dataclass(frozen=True)
class Window:
    """A labelled disruption of one series: from ``onset`` to ``end`` (epoch seconds),
    crossing its limit at ``limit_crossed`` (None: never)."""

    series: str
    kind: str
    onset: float
    end: float
    limit_crossed: float | None
    description: str = ""


@dataclass(frozen=True)
class Event:
    """Something that happened to some series at ``time_s`` (epoch seconds) that is not a
    disruption: a ``counting_change`` or a ``policy``. ``series`` are keys or ``fnmatch``
    patterns."""

    time_s: float
    kind: str
    series: tuple[str, ...]
    description: str = ""


@dataclass
class Labels:
    """The contents of one ``labels.json``."""

    windows: list[Window]
    events: list[Event] = field(default_factory=list)
    start: float | None = None
    end: float | None = None
    scenario: str | None = None
    seed: int | None = None

    @property
    def changes(self) -> list[Event]:
        """The methodology changes (``counting_change`` events), in file order."""
        return [e for e in self.events if e.kind == COUNTING_CHANGE]


def load_labels(path: Path | None = None, doc: Mapping[str, Any] | None = None) -> Labels:
    """A ``labels.json`` file (or its parsed ``doc``) as :class:`Labels`; missing sections
    are empty. ``ValueError`` or ``KeyError`` for a malformed document."""
    if doc is None:
        if path is None:
            raise ValueError("need a path or a document")
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    windows = [
        Window(
            str(w["series"]),
            str(w.get("kind", "")),
            parse_timestamp(str(w["onset"])),
            parse_timestamp(str(w["end"])),
            parse_optional(w.get("limit_crossed")),
            str(w.get("description", "")),
        )
        for w in doc.get("windows", [])
    ]
    events = [
        Event(
            parse_timestamp(str(e["time"])),
            str(e.get("kind", "")),
            tuple(e.get("series", [])),
            str(e.get("description", "")),
        )
        for e in doc.get("events", [])
    ]
    return Labels(
        windows,
        events,
        parse_optional(doc.get("start")),
        parse_optional(doc.get("end")),
        doc.get("scenario"),
        doc.get("seed"),
    )


def _time(ts: float | None) -> str | None:
    """Times as labels.json writes them: ISO 8601 UTC, rounded to the second."""
    return None if ts is None else iso(round(ts))


def labels_to_dict(labels: Labels) -> dict[str, Any]:
    """The ``labels.json`` document of ``labels`` (keys in the file's order).

    >>> w = Window("vessels_waiting|P", "queue_buildup", 86400.4, 172800.0, None, "d")
    >>> labels_to_dict(Labels([w], start=0.0, seed=3))["windows"][0]["onset"]
    '1970-01-02T00:00:00Z'
    """
    return {
        "scenario": labels.scenario,
        "seed": labels.seed,
        "start": _time(labels.start),
        "end": _time(labels.end),
        "windows": [
            {
                "series": w.series,
                "kind": w.kind,
                "onset": _time(w.onset),
                "end": _time(w.end),
                "limit_crossed": _time(w.limit_crossed),
                "description": w.description,
            }
            for w in labels.windows
        ],
        "events": [
            {
                "time": _time(e.time_s),
                "kind": e.kind,
                "series": list(e.series),
                "description": e.description,
            }
            for e in labels.events
        ],
    }


def write_labels(labels: Labels, path: Path) -> None:
    """Write ``labels.json`` (one-space indent, a final newline)."""
    text = json.dumps(labels_to_dict(labels), indent=1) + "\n"
    Path(path).write_text(text, encoding="utf-8")


def load_benchmark_labels(path: Path) -> dict[str, list[tuple[float, float]]]:
    """The anomaly benchmark's ``{"relative/path.csv": [[start, end], ...]}`` with times
    as in its CSVs -> epoch seconds, windows sorted.

    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d) / "labels.json"
    ...     _ = p.write_text('{"a/x.csv": [["1970-01-01 01:00:00", "1970-01-01 02:00:00"]]}')
    ...     load_benchmark_labels(p)
    {'a/x.csv': [(3600.0, 7200.0)]}
    """
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError("labels must be a JSON object: file -> [[start, end], ...]")
    out: dict[str, list[tuple[float, float]]] = {}
    for name, wins in raw.items():
        pairs = []
        for w in wins:
            start, end = parse_timestamp(str(w[0])), parse_timestamp(str(w[1]))
            if end < start:
                raise ValueError(f"{name}: window ends before it starts: {w}")
            pairs.append((start, end))
        out[str(name)] = sorted(pairs)
    return out
