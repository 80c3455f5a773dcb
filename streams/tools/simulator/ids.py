"""Identifiers with their check digits: IMO numbers, MMSIs, ISO 6346 container numbers.

>>> imo_check_digit("907472")
9
>>> is_valid_imo("IMO9074729")
True
>>> iso6346_check_digit("CSQU305438")
3
>>> is_valid_iso6346("CSQU3054383")
True
>>> is_valid_iso6346("CSQU3054384")
False
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CONTAINER_OWNERS",
    "FLAG_MIDS",
    "imo_check_digit",
    "is_valid_imo",
    "is_valid_iso6346",
    "iso6346_check_digit",
    "make_container_numbers",
    "make_imos",
    "make_mmsis",
]

# Maritime Identification Digits of flags common among container ships:
# Liberia 636, Panama 351-357, Marshall Is. 538, Hong Kong 477, Singapore 563-566,
# Malta 229, Madeira 255, Denmark 219/220, Greece 240/241, UK 232, Germany 211.
FLAG_MIDS = np.array([636, 351, 352, 353, 354, 355, 356, 357, 538, 477, 563, 564, 565,
                      566, 229, 255, 219, 220, 240, 241, 232, 211, 218, 431, 440, 412,
                      413, 416, 370, 371, 372, 373])  # fmt: skip

# BIC owner codes of large container lines and lessors (category U).
CONTAINER_OWNERS = ("MSCU", "MSMU", "MEDU", "MAEU", "MRKU", "MSKU", "CMAU", "CGMU", "APZU",
                    "COSU", "CSNU", "CBHU", "OOLU", "OOCU", "EGHU", "EISU", "EMCU", "HLXU",
                    "HLBU", "ONEU", "NYKU", "YMLU", "HDMU", "ZIMU", "TGHU", "TCNU", "SEGU",
                    "TRHU", "FCIU", "BMOU")  # fmt: skip

_IMO_WEIGHTS = np.array([7, 6, 5, 4, 3, 2])


def imo_check_digit(first_six: str) -> int:
    """Check digit of an IMO number from its first six digits."""
    return sum(int(d) * w for d, w in zip(first_six, _IMO_WEIGHTS.tolist(), strict=True)) % 10


def is_valid_imo(value: str) -> bool:
    """True for ``IMO`` followed by seven digits whose last is the check digit."""
    digits = value[3:] if value.startswith("IMO") else value
    if len(digits) != 7 or not digits.isdigit():
        return False
    return imo_check_digit(digits[:6]) == int(digits[6])


def make_imos(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct valid IMO numbers (``IMO9xxxxxx`` or ``IMO8xxxxxx`` style)."""
    out: list[str] = []
    seen: set[int] = set()
    while len(out) < n:
        firsts = rng.integers(800_000, 999_999, size=2 * (n - len(out)) + 4)
        for f in firsts.tolist():
            if f in seen:
                continue
            seen.add(f)
            s = str(f)
            out.append(f"IMO{s}{imo_check_digit(s)}")
            if len(out) == n:
                break
    return out


def make_mmsis(rng: np.random.Generator, n: int, mids: np.ndarray = FLAG_MIDS) -> np.ndarray:
    """``n`` distinct 9-digit ship MMSIs (MID + 6 digits) as int64."""
    out = np.empty(0, dtype=np.int64)
    while out.size < n:
        k = 2 * (n - out.size) + 4
        cand = rng.choice(mids, size=k) * 1_000_000 + rng.integers(0, 1_000_000, size=k)
        out = np.concatenate([out, cand])
        _, first = np.unique(out, return_index=True)
        out = out[np.sort(first)]
    return out[:n].astype(np.int64)


def _iso6346_value(ch: str) -> int:
    if ch.isdigit():
        return int(ch)
    # A=10, skipping multiples of 11 (11, 22, 33).
    v = 10 + (ord(ch) - ord("A"))
    return v + (v - 1) // 10


_LETTER_VALUES = {chr(ord("A") + i): _iso6346_value(chr(ord("A") + i)) for i in range(26)}
_POW2 = 2 ** np.arange(11)


def iso6346_check_digit(first_ten: str) -> int:
    """ISO 6346 check digit of owner code + category + 6-digit serial (10 is written 0)."""
    total = 0
    for i, ch in enumerate(first_ten):
        total += (_LETTER_VALUES[ch] if ch.isalpha() else int(ch)) * (1 << i)
    return total % 11 % 10


def is_valid_iso6346(number: str) -> bool:
    """True for 4 letters (category U, J or Z last), 6 digits and the right check digit."""
    if len(number) != 11 or not number[:4].isalpha() or not number[:4].isupper():
        return False
    if number[3] not in "UJZ" or not number[4:].isdigit():
        return False
    return iso6346_check_digit(number[:10]) == int(number[10])


def make_container_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct container numbers with valid check digits, as a str array.

    Serials whose remainder is 10 are skipped, as ISO 6346 recommends.
    """
    owners = np.array(CONTAINER_OWNERS)
    owner_sum = np.array([sum(_LETTER_VALUES[c] << i for i, c in enumerate(o)) for o in owners])
    chosen_owner = np.empty(0, dtype=np.int64)
    chosen_serial = np.empty(0, dtype=np.int64)
    while chosen_owner.size < n:
        k = int((n - chosen_owner.size) * 1.2) + 16
        o = rng.integers(0, owners.size, size=k)
        s = rng.integers(0, 1_000_000, size=k)
        chosen_owner = np.concatenate([chosen_owner, o])
        chosen_serial = np.concatenate([chosen_serial, s])
        key = chosen_owner * 1_000_000 + chosen_serial
        digits = (chosen_serial[:, None] // 10 ** np.arange(5, -1, -1)) % 10
        total = owner_sum[chosen_owner] + (digits * _POW2[4:10]).sum(axis=1)
        ok = total % 11 != 10
        _, first = np.unique(key, return_index=True)
        keep = np.zeros(key.size, dtype=bool)
        keep[first] = True
        keep &= ok
        chosen_owner, chosen_serial = chosen_owner[keep], chosen_serial[keep]
    chosen_owner, chosen_serial = chosen_owner[:n], chosen_serial[:n]
    digits = (chosen_serial[:, None] // 10 ** np.arange(5, -1, -1)) % 10
    check = (owner_sum[chosen_owner] + (digits * _POW2[4:10]).sum(axis=1)) % 11
    serial_str = np.char.zfill(chosen_serial.astype(str), 6)
    return np.char.add(np.char.add(owners[chosen_owner], serial_str), check.astype(str))
