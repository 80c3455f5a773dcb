"""Vectorized parsing of CSV feeds, a chunk of lines at a time, exact to :class:`FeedParser`.

A :class:`ChunkParser` reads many lines at once: it finds the field boundaries
of every line with numpy, checks whole columns at once, and builds the
canonical structured arrays (``codec.DTYPES``) directly, without a record
object per line. It only accepts a line when it is sure that the per-line
parser would accept it with the very same canonical bytes and no note: plain
ASCII, exactly the header's number of fields, no quotes, numbers written as
plain decimals (at most 15 digits, no exponent, no blanks), times as
``YYYY-MM-DDTHH:MM:SS`` (``Z`` allowed), identifiers already in canonical form.
Every other line (a bad line, a header, a line with a note, an unusual but
valid spelling) goes to the wrapped :class:`FeedParser`, so its outcome is the
per-line outcome by construction: same reason, same message, same record.

Numbers are exact: a decimal with at most 15 digits is an integer ``m`` below
2**53 over a power of ten ``10**k`` (k <= 15), both exact doubles, and one
IEEE division rounds correctly, exactly as ``float()`` does.

>>> ctx = FeedContext(FeedFormat.INVENTORY_CSV)
>>> chunk = ChunkParser(ctx).parse_lines(
...     [b"time,site,item,on_hand,daily_usage", b"2021-12-01T00:00:00Z,FAB2,MCU-32,1200,300",
...      b"2021-12-01T00:00:00Z,FAB2,MCU-32,-5,300"], start=1)
>>> chunk.fast.tolist(), float(chunk.arrays[Kind.INVENTORY]["on_hand"][0])
([False, True, False], 1200.0)
>>> [type(o.result).__name__ for o in chunk.slow]
['Ignored', 'Rejection']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from streams.feeds.ais_csv import DIMENSION_LIMITS, MARINECADASTRE_COLUMNS
from streams.feeds.codec import DTYPES, Kind, _container_ok
from streams.feeds.logistics import (
    CONTAINER_COLUMNS,
    INVENTORY_COLUMNS,
    ITEM_BYTES,
    SITE_BYTES,
    TERMINAL_BYTES,
)
from streams.feeds.parse import FeedContext, FeedFormat, FeedParser
from streams.feeds.results import ContainerEventType, Outcome

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bytes2D = npt.NDArray[np.uint8]

FAST_FORMATS = frozenset(
    {FeedFormat.AIS_MARINECADASTRE_CSV, FeedFormat.CONTAINER_CSV, FeedFormat.INVENTORY_CSV}
)
_LAYOUTS: dict[FeedFormat, tuple[tuple[str, ...], ...]] = {
    FeedFormat.AIS_MARINECADASTRE_CSV: (MARINECADASTRE_COLUMNS, MARINECADASTRE_COLUMNS[:-1]),
    FeedFormat.CONTAINER_CSV: (CONTAINER_COLUMNS,),
    FeedFormat.INVENTORY_CSV: (INVENTORY_COLUMNS,),
}
_POW10 = np.array([float(10**k) for k in range(23)])
_IPOW10 = np.array([10**k for k in range(19)], dtype=np.int64)
MAX_DIGITS = 15
_NUMBER_WIDTH = MAX_DIGITS + 2  # sign and decimal point
_EVENT_CODES = {e.label.encode(): int(e) for e in ContainerEventType}


@dataclass
class Chunk:
    """The outcome of a chunk of lines.

    ``fast[i]`` is True when line ``i`` was parsed by the vectorized path; its
    records are the rows of ``arrays`` in line order (for MarineCadastre rows,
    ``arrays[Kind.POSITION][j]`` and ``arrays[Kind.VESSEL_STATIC][j]`` come from
    the same line). ``slow`` holds the per-line parser's outcomes of the other
    lines, in line order; ``refs`` the line numbers.
    """

    refs: Ints
    fast: Bools
    arrays: dict[Kind, npt.NDArray[Any]] = field(default_factory=dict)
    slow: list[Outcome] = field(default_factory=list)


class _Fields:
    """Field boundaries of the candidate lines of a buffer, and column extraction.

    Columns come out transposed, ``(width, n)``: a reduction over a field's
    characters is then a sum of ``width`` contiguous rows, which numpy does fast.
    """

    PAD = 64  # at least the widest column

    def __init__(self, u: Bytes2D, starts: Ints, ends: Ints, commas: Ints):
        self.padded = np.concatenate([u, np.zeros(self.PAD, dtype=np.uint8)])
        self.starts = starts  # (n,) line starts
        self.ends = ends  # (n,) line ends (exclusive)
        self.commas = commas  # (ncols - 1, n) comma positions
        self.n = len(starts)

    def column(self, j: int, width: int) -> tuple[Bytes2D, Ints, Bools]:
        """(w, n) bytes of column j, NUL padded (w <= width); lengths; fits-in-width mask."""
        start = self.starts if j == 0 else self.commas[j - 1] + 1
        end = self.ends if j == len(self.commas) else self.commas[j]
        lens = end - start
        fits = lens <= width
        w = max(int(min(width, lens.max(initial=1))), 1)
        rows = sliding_window_view(self.padded, w)[start]  # (n, w), one copy per field
        m = np.ascontiguousarray(rows.T)
        m *= np.arange(w)[:, None] < lens
        return m, lens, fits


_UNSAFE = np.ones(256, dtype=bool)  # bytes the fast path leaves to the per-line parser
_UNSAFE[0x20:0x7F] = False
_UNSAFE[0x22] = True
_CLASS = np.full(256, 4, dtype=np.uint8)  # 0 padding, 1 digit, 2 point, 3 minus, 4 other
_CLASS[0] = 0
_CLASS[48:58] = 1
_CLASS[46] = 2
_CLASS[45] = 3


def _digits(m: Bytes2D) -> Bools:
    return (m >= 48) & (m <= 57)


def _accumulate(m: Bytes2D, is_digit: Bools) -> Ints:
    """The integer formed by the digits of each column of ``m`` (at most 18 digits)."""
    total = np.zeros(m.shape[1], dtype=np.int64)
    for p in range(m.shape[0]):
        total = np.where(is_digit[p], total * 10 + (m[p].astype(np.int64) - 48), total)
    return total


def _decimal(m: Bytes2D, lens: Ints, fits: Bools) -> tuple[Floats, Bools, Bools]:
    """Plain decimals ``-?d+(.d+)?`` with at most 15 digits: (value, ok, empty).

    ``value`` is exactly ``float(text)`` where ``ok``; ``empty`` rows have no text.
    """
    cls = _CLASS[m]
    is_digit = cls == 1
    is_dot = cls == 2
    bad = (cls == 4).any(axis=0) | (cls[1:] == 3).any(axis=0)
    ndig = is_digit.sum(axis=0)
    ndot = is_dot.sum(axis=0)
    neg = cls[0] == 3
    dotpos = np.zeros(m.shape[1], dtype=np.int64)
    for p in range(1, m.shape[0]):
        dotpos[is_dot[p]] = p
    has_dot = ndot == 1
    ok = fits & ~bad & (ndot <= 1) & (ndig >= 1) & (ndig <= MAX_DIGITS)
    ok &= ~has_dot | ((dotpos > neg) & (dotpos < lens - 1))
    k = np.where(has_dot, lens - 1 - dotpos, 0)
    np.clip(k, 0, 22, out=k)
    mant = _accumulate(m, is_digit)
    value = mant.astype(np.float64) / _POW10[k]
    value = np.where(neg, -value, value)
    empty = lens == 0
    return value, ok & ~empty, empty


def _days_from_civil(y: Ints, mo: Ints, d: Ints) -> Ints:
    y = y - (mo <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (mo + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days: Ints = era * 146097 + doe - 719468
    return days


_DIM = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _iso_time(m: Bytes2D, lens: Ints, fits: Bools) -> tuple[Ints, Bools]:
    """``YYYY-MM-DDTHH:MM:SS`` with an optional ``Z``: (ms since the epoch, ok)."""
    n = m.shape[1]
    if m.shape[0] < 20:
        m = np.concatenate([m, np.zeros((20 - m.shape[0], n), dtype=np.uint8)])
    ok = fits & ((lens == 19) | ((lens == 20) & (m[19] == ord("Z"))))
    v = m[:19].astype(np.int64) - 48
    for p in (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18):
        ok &= (v[p] >= 0) & (v[p] <= 9)
    for p, ch in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")):
        ok &= m[p] == ord(ch)

    def num(*ps: int) -> Ints:
        out = np.zeros(n, dtype=np.int64)
        for p in ps:
            out = out * 10 + v[p]
        return out

    year, month, day = num(0, 1, 2, 3), num(5, 6), num(8, 9)
    hour, minute, second = num(11, 12), num(14, 15), num(17, 18)
    ok &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    dim = _DIM[np.clip(month, 0, 12)] + ((month == 2) & leap)
    ok &= (day <= dim) & (hour <= 23) & (minute <= 59) & (second <= 59)
    days = _days_from_civil(year, month, day)
    ms = ((days * 24 + hour) * 60 + minute) * 60 + second
    return ms * 1000, ok


def _text(m: Bytes2D, lens: Ints, fits: Bools) -> Bools:
    """Text that needs no stripping: no space at either end (the lines are printable ASCII)."""
    n = m.shape[1]
    last = m[np.clip(lens - 1, 0, m.shape[0] - 1), np.arange(n)]
    return fits & ((lens == 0) | ((m[0] != 32) & (last != 32)))


def _as_s(m: Bytes2D) -> npt.NDArray[np.bytes_]:
    """A transposed (w, n) column as an ``S{w}`` array of n items."""
    width, n = m.shape
    return np.ascontiguousarray(m.T).view(f"S{width}").reshape(n)


def _optional_int(
    x: tuple[Floats, Bools, Bools], lo: int, hi: int, default: int
) -> tuple[Ints, Bools]:
    value, ok, empty = x
    ok = ok & (value == np.floor(value)) & (value >= lo) & (value <= hi)
    out = np.where(empty, default, np.where(ok, value, 0)).astype(np.int64)
    return out, ok | empty


class ChunkParser:
    """Parses chunks of lines of one CSV stream; exact to :class:`FeedParser` line by line.

    The wrapped per-line parser reads the header and parses every line the
    vectorized path leaves to it. For formats without a fast path (NMEA, JSON
    lines) every line goes to the per-line parser.
    """

    def __init__(self, ctx: FeedContext):
        self.ctx = ctx
        self.parser = FeedParser(ctx)
        self._known = (
            None
            if ctx.known_ports is None
            else np.array(
                sorted(b for b in (p.encode("utf-8") for p in ctx.known_ports) if len(b) == 5),
                dtype="S5",
            )
        )

    def _fast_columns(self) -> int:
        """Number of columns when the fast path applies to the current layout, else 0."""
        layout = self.parser.layout
        if self.ctx.fmt not in FAST_FORMATS or layout is None or self.parser.header_missing:
            return 0
        return len(layout.columns) if layout.columns in _LAYOUTS[self.ctx.fmt] else 0

    def parse_lines(self, lines: Sequence[bytes], start: int = 1) -> Chunk:
        """A chunk given as separate lines (each without its line ending)."""
        lens = np.fromiter((len(x) for x in lines), dtype=np.int64, count=len(lines))
        ends = np.cumsum(lens + 1) - 1
        return self.parse_buffer(b"\n".join(lines) + b"\n", ends - lens, ends, start)

    def parse_buffer(
        self, buf: bytes, starts: Ints, ends: Ints, start: int = 1, strip_cr: bool = False
    ) -> Chunk:
        """Lines ``buf[starts[i]:ends[i]]``, numbered from ``start``.

        With ``strip_cr`` a line handed to the per-line parser loses its trailing
        carriage returns (as ``line.rstrip(b"\\r\\n")``); the fast path never takes
        a line with a carriage return.
        """
        n = len(starts)
        refs = np.arange(start, start + n, dtype=np.int64)
        fast = np.zeros(n, dtype=bool)
        chunk = Chunk(refs, fast)
        i = 0
        # Lines before the header is known go one by one.
        while i < n and self.parser.layout is None:
            chunk.slow += self._slow(buf, starts, ends, i, int(refs[i]), strip_cr)
            i += 1
        ncols = self._fast_columns()
        if ncols and i < n:
            sel = np.arange(i, n)
            ok, arrays = self._vectorized(buf, starts[i:], ends[i:], ncols)
            fast[sel[ok]] = True
            chunk.arrays = arrays
        for j in np.flatnonzero(~fast[i:]).tolist():
            k = i + j
            chunk.slow += self._slow(buf, starts, ends, k, int(refs[k]), strip_cr)
        return chunk

    def _slow(
        self, buf: bytes, starts: Ints, ends: Ints, i: int, ref: int, strip_cr: bool
    ) -> list[Outcome]:
        raw = buf[int(starts[i]) : int(ends[i])]
        if strip_cr:
            raw = raw.rstrip(b"\r\n")
        return self.parser.feed(raw, ref)

    def _vectorized(
        self, buf: bytes, starts: Ints, ends: Ints, ncols: int
    ) -> tuple[Bools, dict[Kind, npt.NDArray[Any]]]:
        n = len(starts)
        lo, hi = int(starts[0]), int(ends.max(initial=0))
        u = np.frombuffer(buf, dtype=np.uint8)[lo:hi]
        starts, ends = starts - lo, ends - lo
        cand = (ends - starts) <= self.ctx.max_bytes
        # printable ASCII without quotes; anything else is for the per-line parser
        bad = np.flatnonzero(_UNSAFE[u])
        if len(bad):
            line = np.searchsorted(starts, bad, side="right") - 1
            inside = (line >= 0) & (bad < ends[np.maximum(line, 0)])
            cand[line[inside]] = False
        commas = np.flatnonzero(u == 0x2C)
        first = np.searchsorted(commas, starts)
        count = np.searchsorted(commas, ends) - first
        cand &= count == ncols - 1
        idx = np.flatnonzero(cand)
        ok = np.zeros(n, dtype=bool)
        if not len(idx):
            return ok, {}
        c = commas[first[idx] + np.arange(ncols - 1)[:, None]]
        f = _Fields(u, starts[idx], ends[idx], c)
        fmt = self.ctx.fmt
        if fmt is FeedFormat.AIS_MARINECADASTRE_CSV:
            good, arrays = self._marinecadastre(f, ncols)
        elif fmt is FeedFormat.CONTAINER_CSV:
            good, arrays = self._containers(f)
        else:
            good, arrays = self._inventory(f)
        ok[idx[good]] = True
        return ok, {kind: arr[good] for kind, arr in arrays.items()}

    def _window(self, ts: Ints) -> Bools:
        w = self.ctx.window
        if w is None:
            return np.ones(len(ts), dtype=bool)
        return (ts >= w.earliest_ms) & (ts <= w.latest_ms)

    def _marinecadastre(self, f: _Fields, ncols: int) -> tuple[Bools, dict[Kind, Any]]:
        n = f.n
        m, lens, fits = f.column(0, 9)
        is_digit = _digits(m)
        mmsi = _accumulate(m, is_digit)
        ok = fits & (lens >= 1) & (is_digit.sum(axis=0) == lens) & (mmsi > 0)
        ts, good = _iso_time(*f.column(1, 20))
        ok &= good
        lat, good, _ = _decimal(*f.column(2, _NUMBER_WIDTH))
        ok &= good & (np.abs(lat) <= 90.0)
        lon, good, _ = _decimal(*f.column(3, _NUMBER_WIDTH))
        ok &= good & (np.abs(lon) <= 180.0)
        # speed: empty or 102.3 is unknown
        sog, good, empty = _decimal(*f.column(4, _NUMBER_WIDTH))
        sog_na = empty | (np.abs(sog - 102.3) < 1e-6)
        ok &= sog_na | (good & (sog >= 0.0) & (sog < 102.3))
        sog = np.where(sog_na, np.nan, sog)
        cog, good, empty = _decimal(*f.column(5, _NUMBER_WIDTH))
        cog_na = empty | (good & (cog == 360.0))
        ok &= cog_na | (good & (cog >= 0.0) & (cog < 360.0))
        cog = np.where(cog_na, np.nan, cog)
        hdg, good, empty = _decimal(*f.column(6, _NUMBER_WIDTH))
        hdg_ok = good & ((hdg == 511.0) | ((hdg >= 0) & (hdg < 360) & (hdg == np.floor(hdg))))
        ok &= empty | hdg_ok
        heading = np.where(empty | ~hdg_ok, 511, hdg).astype(np.int64)
        name_m, name_len, name_fits = f.column(7, 20)
        ok &= _text(name_m, name_len, name_fits)
        imo, good = self._imo(*f.column(8, 10))
        ok &= good
        call_m, call_len, call_fits = f.column(9, 7)
        ok &= _text(call_m, call_len, call_fits)
        ship_type, good = _optional_int(_decimal(*f.column(10, _NUMBER_WIDTH)), 0, 255, 0)
        ok &= good
        status, good = _optional_int(_decimal(*f.column(11, _NUMBER_WIDTH)), 0, 15, 15)
        ok &= good
        dims = {}
        for j, name in ((12, "Length"), (13, "Width"), (14, "Draft")):
            value, good, empty = _decimal(*f.column(j, _NUMBER_WIDTH))
            ok &= empty | (good & (value >= 0) & (value <= DIMENSION_LIMITS[name]))
            dims[name] = np.where(empty | ~(value > 0), np.nan, value)
        cargo, good = _optional_int(_decimal(*f.column(15, _NUMBER_WIDTH)), 0, 255, 0)
        ok &= good
        if ncols > 16:
            cm, clen, cfits = f.column(16, 1)
            letter = cm[0]
            ok &= cfits & ((clen == 0) | (letter == ord("A")) | (letter == ord("B")))
            ais_class = np.where(clen == 0, 0, np.where(letter == ord("A"), 1, 2))
        else:
            ais_class = np.zeros(n, dtype=np.int64)
        ok &= self._window(ts)
        pos = np.zeros(n, dtype=DTYPES[Kind.POSITION])
        pos["ts_ms"], pos["mmsi"], pos["lat"], pos["lon"] = ts, mmsi, lat, lon
        pos["sog"], pos["cog"], pos["heading"], pos["nav_status"] = sog, cog, heading, status
        pos["msg_type"], pos["ship_type"], pos["ais_class"] = 0, ship_type, ais_class
        static = np.zeros(n, dtype=DTYPES[Kind.VESSEL_STATIC])
        static["ts_ms"], static["mmsi"], static["imo"] = ts, mmsi, imo
        static["name"], static["callsign"] = _as_s(name_m), _as_s(call_m)
        static["ship_type"], static["cargo"] = ship_type, cargo
        static["length"], static["width"] = dims["Length"], dims["Width"]
        static["draft"], static["msg_type"], static["ais_class"] = dims["Draft"], 0, ais_class
        return ok, {Kind.POSITION: pos, Kind.VESSEL_STATIC: static}

    @staticmethod
    def _imo(m: Bytes2D, lens: Ints, fits: Bools) -> tuple[Ints, Bools]:
        """Empty (0), or ``IMOddddddd`` / ``ddddddd`` with a valid check digit."""
        if m.shape[0] < 10:
            m = np.concatenate([m, np.zeros((10 - m.shape[0], m.shape[1]), dtype=np.uint8)])
        prefixed = (lens == 10) & (m[0] == ord("I")) & (m[1] == ord("M")) & (m[2] == ord("O"))
        bare = lens == 7
        digits = np.where(prefixed, m[3:10], m[0:7])
        is_digit = _digits(digits)
        value = _accumulate(digits, is_digit)
        first6 = value // 10
        total = np.zeros(m.shape[1], dtype=np.int64)
        for weight in range(2, 8):
            total += (first6 % 10) * weight
            first6 //= 10
        valid = (
            (prefixed | bare)
            & is_digit.all(axis=0)
            & (value >= 1_000_000)
            & (total % 10 == value % 10)
        )
        empty = lens == 0
        return np.where(valid, value, 0), fits & (empty | valid)

    def _containers(self, f: _Fields) -> tuple[Bools, dict[Kind, Any]]:
        n = f.n
        ts, ok = _iso_time(*f.column(0, 20))
        ok &= self._window(ts)
        pm, plen, pfits = f.column(1, 5)
        if pm.shape[0] < 5:
            pm = np.concatenate([pm, np.zeros((5 - pm.shape[0], pm.shape[1]), dtype=np.uint8)])
        upper = (pm >= ord("A")) & (pm <= ord("Z"))
        ok &= pfits & (plen == 5) & upper[:2].all(axis=0)
        ok &= (upper[2:] | ((pm[2:] >= ord("2")) & (pm[2:] <= ord("9")))).all(axis=0)
        port = _as_s(pm)
        if self._known is not None:
            ok &= np.isin(port, self._known)
        tm, tlen, tfits = f.column(2, TERMINAL_BYTES)
        ok &= _text(tm, tlen, tfits)
        cm, clen, cfits = f.column(3, 11)
        container = _as_s(cm)
        ok &= cfits & (clen == 11) & _container_ok(container)
        em, _elen, efits = f.column(4, 14)
        event_s = _as_s(em)
        event = np.zeros(n, dtype=np.int64)
        for word, code in _EVENT_CODES.items():
            event[event_s == word] = code
        ok &= efits & (event > 0)
        out = np.zeros(n, dtype=DTYPES[Kind.CONTAINER_EVENT])
        out["ts_ms"], out["container"], out["event"] = ts, container, event
        out["port"], out["terminal"] = port, _as_s(tm)
        return ok, {Kind.CONTAINER_EVENT: out}

    def _inventory(self, f: _Fields) -> tuple[Bools, dict[Kind, Any]]:
        n = f.n
        ts, ok = _iso_time(*f.column(0, 20))
        ok &= self._window(ts)
        texts = []
        for j, width in ((1, SITE_BYTES), (2, ITEM_BYTES)):
            m, lens, fits = f.column(j, width)
            ok &= _text(m, lens, fits) & (lens > 0) & ~(m == ord("|")).any(axis=0)
            texts.append(_as_s(m))
        quantities = []
        for j in (3, 4):
            value, good, _ = _decimal(*f.column(j, _NUMBER_WIDTH))
            ok &= good & (value >= 0)
            quantities.append(value)
        out = np.zeros(n, dtype=DTYPES[Kind.INVENTORY])
        out["ts_ms"], out["site"], out["item"] = ts, texts[0], texts[1]
        out["on_hand"], out["daily_usage"] = quantities
        return ok, {Kind.INVENTORY: out}
