"""The tuning / held-out split: fixed, deterministic, disjoint and covering."""

from __future__ import annotations

import random
from pathlib import Path

from streams.offline.evaluation import HELD_OUT, TUNING, find_series, split_all, split_of


def test_rule_alternates_within_each_folder_by_name() -> None:
    files = ["b/2.csv", "a/3.csv", "a/1.csv", "a/2.csv", "b/1.csv", "top.csv"]
    split = split_all(files)
    assert split == {
        "a/1.csv": TUNING,
        "a/2.csv": HELD_OUT,
        "a/3.csv": TUNING,
        "b/1.csv": TUNING,
        "b/2.csv": HELD_OUT,
        "top.csv": TUNING,
    }


def test_split_of_real_series_is_deterministic_disjoint_and_covering(shared_data: Path) -> None:
    names = find_series(shared_data / "anomaly-cmd" / "series")
    assert len(names) == 60
    split = split_all(names)
    shuffled = names[:]
    random.Random(3).shuffle(shuffled)
    assert split_all(shuffled) == split  # order of discovery does not matter
    assert all(split_of(n, names) == split[n] for n in names)
    tuning = {n for n, h in split.items() if h == TUNING}
    held = {n for n, h in split.items() if h == HELD_OUT}
    assert tuning.isdisjoint(held) and tuning | held == set(names)
    # every folder with two or more series has some in each half
    folders: dict[str, set[str]] = {}
    for n in names:
        folders.setdefault(n.rsplit("/", 1)[0], set()).add(split[n])
    sizes = {f: sum(1 for n in names if n.startswith(f + "/")) for f in folders}
    assert all(halves == {TUNING, HELD_OUT} for f, halves in folders.items() if sizes[f] > 1)
    assert 25 <= len(held) <= 30
