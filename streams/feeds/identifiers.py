"""Identifier checks: MMSI, IMO, ISO 6346 container numbers, UN/LOCODE."""

from __future__ import annotations

import re


def _letter_values() -> dict[str, int]:
    # ISO 6346: A=10, then count up skipping multiples of 11 (11, 22, 33).
    values: dict[str, int] = {}
    v = 10
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if v % 11 == 0:
            v += 1
        values[letter] = v
        v += 1
    return values


ISO6346_LETTER_VALUES: dict[str, int] = _letter_values()
ISO6346_CATEGORIES = frozenset("UJZ")
_CONTAINER_RE = re.compile(r"[A-Z]{3}[UJZ][0-9]{7}")
_LOCODE_RE = re.compile(r"[A-Z]{2}[A-Z2-9]{3}")
MMSI_MAX = 999_999_999


def valid_mmsi(mmsi: int) -> bool:
    """An MMSI is nine decimal digits (leading zeros allowed), not all zero.

    >>> valid_mmsi(366999712), valid_mmsi(0), valid_mmsi(1_000_000_000)
    (True, False, False)
    """
    return 0 < mmsi <= MMSI_MAX


def parse_mmsi_text(text: str) -> int | None:
    """MMSI from text: one to nine digits (a decoded file may drop leading zeros).

    >>> parse_mmsi_text("367752440"), parse_mmsi_text("36775244O"), parse_mmsi_text("0")
    (367752440, None, None)
    """
    t = text.strip()
    if not (0 < len(t) <= 9) or not t.isascii() or not t.isdigit():
        return None
    value = int(t)
    return value if valid_mmsi(value) else None


def imo_check_digit(first_six: int) -> int:
    """Check digit of an IMO number from its first six digits (weights 7..2).

    >>> imo_check_digit(907472)  # IMO 9074729
    9
    """
    total = 0
    for weight in range(2, 8):
        total += (first_six % 10) * weight
        first_six //= 10
    return total % 10


def valid_imo(imo: int) -> bool:
    """Seven digits with a valid check digit; 0 ("not available") is not valid.

    >>> valid_imo(9074729), valid_imo(9074728), valid_imo(0)
    (True, False, False)
    """
    return 1_000_000 <= imo <= 9_999_999 and imo_check_digit(imo // 10) == imo % 10


def iso6346_check_digit(first_ten: str) -> int:
    """ISO 6346 check digit of owner code + category + six-digit serial.

    Each character's value (digits as is, letters from :data:`ISO6346_LETTER_VALUES`)
    is weighted by 2**position; the sum modulo 11, then modulo 10 (10 -> 0).

    >>> iso6346_check_digit("CSQU305438")
    3
    """
    total = 0
    for i, ch in enumerate(first_ten):
        value = int(ch) if ch.isdigit() else ISO6346_LETTER_VALUES[ch]
        total += value << i
    return total % 11 % 10


def normalize_container_number(text: str) -> str:
    """Upper-case, without spaces or hyphens ("msku 123456-5" -> "MSKU1234565")."""
    return text.strip().upper().replace(" ", "").replace("-", "")


def container_number_problem(number: str) -> str | None:
    """None when ``number`` (normalized) is a valid ISO 6346 number, else why not.

    >>> container_number_problem("CSQU3054383") is None
    True
    >>> container_number_problem("CSQU3054384")
    'check digit is 4, expected 3'
    """
    if len(number) != 11:
        return f"length {len(number)}, expected 11 characters"
    if not number.isascii() or not _CONTAINER_RE.fullmatch(number):
        if number[3:4] not in ISO6346_CATEGORIES:
            return f"category {number[3:4]!r} is not U, J or Z"
        return "expected 3-letter owner code, category letter, 6-digit serial, check digit"
    expected = iso6346_check_digit(number[:10])
    if int(number[10]) != expected:
        return f"check digit is {number[10]}, expected {expected}"
    return None


def valid_locode(code: str) -> bool:
    """UN/LOCODE shape: 2-letter country, 3 letters or digits 2-9.

    >>> valid_locode("USLAX"), valid_locode("uslax"), valid_locode("US LAX")
    (True, False, False)
    """
    return len(code) == 5 and code.isascii() and _LOCODE_RE.fullmatch(code) is not None
