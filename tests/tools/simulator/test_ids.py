"""Identifier generators: property tests against independent check-digit rules."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.tools.simulator.ids import (
    is_valid_imo,
    is_valid_iso6346,
    make_container_numbers,
    make_imos,
    make_mmsis,
)


def _remainder(number: str) -> int:
    letters = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
    values = dict(zip(letters, [v for v in range(10, 39) if v % 11][:26], strict=True))
    total = sum((values[c] if c.isalpha() else int(c)) << i for i, c in enumerate(number[:10]))
    return total % 11


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 300))
def test_generated_identifiers_are_valid_and_distinct(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    boxes = make_container_numbers(rng, n).tolist()
    assert len(set(boxes)) == n and all(is_valid_iso6346(b) and b[3] == "U" for b in boxes)
    imos = make_imos(rng, n)
    assert len(set(imos)) == n and all(is_valid_imo(i) for i in imos)
    mmsis = make_mmsis(rng, n)
    assert len(set(mmsis.tolist())) == n
    assert ((mmsis >= 200_000_000) & (mmsis <= 799_999_999)).all()  # ship MMSIs: MID 2xx-7xx


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(4, 10), st.integers(1, 9))
def test_any_single_digit_change_is_caught(seed: int, pos: int, delta: int) -> None:
    number = make_container_numbers(np.random.default_rng(seed), 1)[0]
    if number[pos].isdigit():
        changed = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1 :]
        # Only a serial whose remainder is 10 (which ISO 6346 says not to issue) can hide it.
        assert not is_valid_iso6346(changed) or _remainder(changed) == 10
    # IMO weights 7 and 3 (and the check digit itself) are coprime with 10: any change shows.
    imo = make_imos(np.random.default_rng(seed), 1)[0]
    k = (3, 7, 9)[pos % 3]
    bad = imo[:k] + str((int(imo[k]) + delta) % 10) + imo[k + 1 :]
    assert not is_valid_imo(bad)
