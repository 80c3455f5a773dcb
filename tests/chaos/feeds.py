"""Disturbed copies of feed files: a line inserted, rows out of order or re-sent late, the
rows split between two producers by key. CSV files with a header line, plain or gzip.

>>> rows = ["2021-08-01T01:10:00Z,a", "2021-08-01T00:20:00Z,b", "2021-08-01T01:40:00Z,c"]
>>> [r[-1] for r in in_time_order(rows, 0)]
['b', 'a', 'c']
"""

from __future__ import annotations

import bisect
import gzip
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np

from streams.kafka.io import partition_for

#: per feed file: the column of the event time and how the row's Kafka key is made
TIME_COLUMN = {"positions": 1, "containers": 0, "inventory": 0}
KEY_OF: dict[str, Callable[[list[str]], bytes]] = {
    "positions": lambda f: b"%09d" % int(f[0]),
    "containers": lambda f: f[3].encode(),
    "inventory": lambda f: f"{f[1]}|{f[2]}".encode(),
}


def feed_name(path: Path) -> str:
    """``positions``, ``containers`` or ``inventory`` from a feed file's name."""
    return path.name.split(".", 1)[0]


def read_lines(path: Path) -> tuple[str, list[str]]:
    """The header and the rows of a CSV feed file."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as fh:
        lines = fh.read().splitlines()
    return lines[0], lines[1:]


def write_lines(path: Path, header: str, rows: list[str]) -> Path:
    """A CSV feed file (gzip when its name ends in .gz, fast compression)."""
    data = ("\n".join([header, *rows]) + "\n").encode()
    path.write_bytes(gzip.compress(data, compresslevel=1) if path.suffix == ".gz" else data)
    return path


def event_seconds(rows: list[str], column: int) -> np.ndarray:
    """Event times (Unix seconds) of rows whose ``column`` is an ISO time."""
    stamps = np.array([r.split(",", column + 1)[column][:19] for r in rows],
                      dtype="datetime64[s]")
    return stamps.astype(np.int64)


def in_time_order(rows: list[str], column: int) -> list[str]:
    """Rows sorted by event time (stable): what an undisturbed producer sends."""
    order = np.argsort(event_seconds(rows, column), kind="stable")
    return [rows[i] for i in order]


def with_line(src: Path, dst: Path, at: int, line: str) -> Path:
    """``src`` with ``line`` inserted so that it is line ``at`` of ``dst`` (header = 1)."""
    header, rows = read_lines(src)
    return write_lines(dst, header, [*rows[: at - 2], line, *rows[at - 2 :]])


def out_of_order(src: Path, dst: Path, *, window_s: int, late: int, late_s: int,
                 seed: int) -> tuple[int, int]:
    """``src`` with its rows shuffled within aligned windows of ``window_s`` seconds and
    ``late`` rows sent again ``late_s`` seconds of event time after their own (a
    producer re-sending them days late); returns (rows moved, rows re-sent)."""
    header, rows = read_lines(src)
    ts = event_seconds(rows, TIME_COLUMN[feed_name(src)])
    rng = random.Random(seed)
    block = ts // window_s
    order = np.lexsort((np.array([rng.random() for _ in rows]), block))
    shuffled = [rows[i] for i in order]
    moved = int(np.sum(order != np.arange(len(rows))))
    starts = (block[order] * window_s).tolist()
    picks = sorted(rng.sample(range(len(rows) // 2), late)) if late else []
    for i in reversed(picks):
        j = bisect.bisect_left(starts, int(ts[i]) + late_s)
        shuffled.insert(j, rows[i])
        starts.insert(j, starts[j - 1])
    write_lines(dst, header, shuffled)
    return moved, len(picks)


def split_by_partition(src: Path, first: Path, second: Path, partitions: int) -> int:
    """Rows of ``src`` whose key lands in the lower half of the partitions to ``first``,
    the others to ``second`` (each producer then owns its partitions); returns how many
    rows ``first`` got."""
    header, rows = read_lines(src)
    key_of = KEY_OF[feed_name(src)]
    cache: dict[bytes, bool] = {}
    a: list[str] = []
    b: list[str] = []
    for row in rows:
        key = key_of(row.split(","))
        low = cache.get(key)
        if low is None:
            low = cache[key] = partition_for(key, partitions) < partitions / 2
        (a if low else b).append(row)
    write_lines(first, header, a)
    write_lines(second, header, b)
    return len(a)
