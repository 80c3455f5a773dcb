"""The simulated feed is a valid feed: every line passes berthwatch's own parsers.

The bundled demo feed and the backtests come from the simulator; a line that the
feed layer rejects would show up as a dead letter in every demo.
"""

from __future__ import annotations

import gzip
from collections import Counter
from typing import Any

from streams.feeds.parse import FeedContext, FeedFormat, parse_lines
from streams.feeds.results import Rejection
from streams.geo import load_geography

FORMATS = {
    "positions.csv.gz": FeedFormat.AIS_MARINECADASTRE_CSV,
    "containers.csv.gz": FeedFormat.CONTAINER_CSV,
    "inventory.csv.gz": FeedFormat.INVENTORY_CSV,
}


def test_every_simulated_line_parses(sim_run: Any) -> None:
    # Two weeks that include a SAR aircraft sweep (every ten days) and the 2021
    # build-up; positions, container events and inventory snapshots.
    out = sim_run(start="2021-10-01", end="2021-10-14", seed=7)
    ports = frozenset(load_geography().ports)
    for name, fmt in FORMATS.items():
        with gzip.open(out / name, "rb") as fh:
            lines = fh.read().splitlines()
        outcomes = list(parse_lines(lines, FeedContext(fmt, known_ports=ports)))
        kinds = Counter(type(o.result).__name__ for o in outcomes)
        rejected = [o for o in outcomes if isinstance(o.result, Rejection)]
        assert not rejected, f"{name}: {rejected[:3]}"
        assert sum(kinds.values()) == len(lines)
        assert kinds["Ignored"] == 1  # the header
    with gzip.open(out / "positions.csv.gz", "rt") as fh:
        assert any(line.startswith("111") for line in fh)  # the SAR aircraft flew
