"""AIS NMEA 0183 sentences (``!AIVDM``/``!AIVDO``, any talker) to records.

Accepted line forms (see docs/FEEDS.md):

* ``<unix_epoch_float> !AIVDM,...`` - receive time first, as logged by many receivers;
* ``\\s:station,c:<unix seconds>*hh\\!AIVDM,...`` - NMEA 4.0 tag block;
* a bare sentence - the caller's fallback receive time is used, else the line is
  rejected with ``missing_time``.

Multipart messages are assembled in a bounded buffer keyed by source (tag block
station or talker id), radio channel and sequence id. Decoding is done by pyais.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from functools import reduce
from operator import xor
from typing import Any

from pyais.exceptions import UnknownMessageException
from pyais.messages import AISSentence, NMEASentenceFactory

from streams.feeds.checks import check_position, fit_text, normalize_motion
from streams.feeds.identifiers import valid_imo, valid_mmsi
from streams.feeds.results import (
    AisClass,
    Fragment,
    Ignored,
    Note,
    Outcome,
    ParseResult,
    PositionRecord,
    Reason,
    Rejection,
    VesselStaticRecord,
)
from streams.feeds.times import TimeWindow, epoch_seconds_to_ms

POSITION_TYPES = frozenset({1, 2, 3, 18, 19})
STATIC_TYPES = frozenset({5, 24})

# Bits a message must carry for the fields berthwatch reads (ITU-R M.1371):
# types 1-3 up to the true heading, 18 and 19 likewise, 5 up to the draught,
# 24 part A up to the name, 24 part B up to the dimensions.
_MIN_BITS = {1: 137, 2: 137, 3: 137, 18: 133, 19: 143, 5: 302}
_MIN_BITS_24A = 160
_MIN_BITS_24B = 132

# What the ignored AIS message types are, for the Ignored result.
AIS_TYPE_NAMES: dict[int, str] = {
    4: "base station report",
    6: "binary addressed message",
    7: "binary acknowledge",
    8: "binary broadcast message",
    9: "SAR aircraft position report",
    10: "UTC/date inquiry",
    11: "UTC/date response",
    12: "addressed safety message",
    13: "safety acknowledge",
    14: "safety broadcast message",
    15: "interrogation",
    16: "assignment mode command",
    17: "DGNSS broadcast binary message",
    20: "data link management",
    21: "aid-to-navigation report",
    22: "channel management",
    23: "group assignment command",
    25: "single slot binary message",
    26: "multiple slot binary message",
    27: "long range position report",
}

# Tag-block ``c:`` values this large are milliseconds, not seconds (1e11 s is year 5138).
_TAG_MS_THRESHOLD = 1e11


@dataclass(slots=True)
class _Pending:
    of: int
    first_ts_ms: int | None
    parts: dict[int, tuple[AISSentence, Hashable, bytes, int | None]] = field(default_factory=dict)


def _clip(raw: bytes, n: int = 60) -> str:
    text = raw.decode("ascii", errors="backslashreplace")
    return text if len(text) <= n else text[:n] + "..."


def _split_line(line: bytes) -> tuple[bytes, float | None, bytes | None] | Rejection:
    """Split off the receive-time prefix and tag block: (sentence, prefix_s, tag)."""
    prefix_s: float | None = None
    if line[:1].isdigit():
        head, sep, rest = line.partition(b" ")
        if not sep:
            return Rejection(Reason.UNDECODABLE_NMEA, f"no sentence after {_clip(head)!r}")
        try:
            prefix_s = float(head)
        except ValueError:
            return Rejection(
                Reason.WRONG_TYPE, f"receive time prefix {_clip(head)!r} is not a number"
            )
        if not math.isfinite(prefix_s):
            return Rejection(Reason.NON_FINITE, f"receive time prefix is {_clip(head)}")
        line = rest.lstrip()
    tag: bytes | None = None
    if line[:1] == b"\\":
        end = line.find(b"\\", 1)
        if end < 0:
            return Rejection(Reason.UNDECODABLE_NMEA, "tag block is not closed by a backslash")
        tag = line[1:end]
        line = line[end + 1 :]
    return line, prefix_s, tag


# AIS payload armour: characters 0x30..0x57 and 0x60..0x77.
_PAYLOAD_RE = re.compile(rb"[0-W`-w]*")
_HEX = frozenset(b"0123456789ABCDEFabcdef")


def _check_sentence_checksum(text: bytes) -> Rejection | None:
    """XOR of everything between the start character and the last ``*`` must equal
    the two hex digits after it. (pyais stops at the first ``*``, so a ``*`` inside a
    corrupted payload could pass its check.)"""
    star = text.rfind(b"*")
    check = text[star + 1 :]
    if star < 1 or len(check) != 2 or not _HEX.issuperset(check):
        return Rejection(Reason.BAD_CHECKSUM, "sentence does not end with a *hh checksum")
    actual = reduce(xor, text[1:star], 0)
    expected = int(check, 16)
    if actual != expected:
        return Rejection(
            Reason.BAD_CHECKSUM, f"sentence checksum {expected:02X}, computed {actual:02X}"
        )
    return None


def _parse_tag_block(tag: bytes) -> tuple[float | None, str | None] | Rejection:
    """Check a tag block's checksum; return (receive time s, source station)."""
    body, star, check = tag.rpartition(b"*")
    if not star:
        return Rejection(Reason.BAD_CHECKSUM, "tag block has no checksum")
    try:
        expected = int(check, 16)
    except ValueError:
        return Rejection(Reason.BAD_CHECKSUM, f"tag block checksum {_clip(check)!r} is not hex")
    actual = 0
    for b in body:
        actual ^= b
    if actual != expected:
        return Rejection(
            Reason.BAD_CHECKSUM, f"tag block checksum {expected:02X}, computed {actual:02X}"
        )
    ts: float | None = None
    source: str | None = None
    for item in body.split(b","):
        code, colon, value = item.partition(b":")
        if not colon:
            continue
        if code == b"c":
            try:
                ts = float(value)
            except ValueError:
                return Rejection(
                    Reason.WRONG_TYPE, f"tag block time c:{_clip(value)!r} is not a number"
                )
            if not math.isfinite(ts):
                return Rejection(Reason.NON_FINITE, f"tag block time is {_clip(value)}")
            if abs(ts) >= _TAG_MS_THRESHOLD:
                ts /= 1000.0
        elif code == b"s":
            source = value.decode("ascii")
    return ts, source


def _bits(sentence: AISSentence) -> int:
    return len(sentence.bv)


def _dims(to_bow: Any, to_stern: Any, to_port: Any, to_starboard: Any) -> tuple[int, ...]:
    return tuple(int(v) if v is not None else 0 for v in (to_bow, to_stern, to_port, to_starboard))


def _static_common(
    ts_ms: int, mmsi: int, msg_type: int, dims: tuple[int, ...], notes: list[Note]
) -> dict[str, Any]:
    bow, stern, port, starboard = dims
    return {
        "ts_ms": ts_ms,
        "mmsi": mmsi,
        "msg_type": msg_type,
        "to_bow": bow,
        "to_stern": stern,
        "to_port": port,
        "to_starboard": starboard,
        "length": float(bow + stern) if bow and stern else math.nan,
        "width": float(port + starboard) if port and starboard else math.nan,
    }


def _imo(value: Any, notes: list[Note]) -> int:
    imo = int(value or 0)
    if imo == 0:
        return 0
    if not valid_imo(imo):
        notes.append(Note(Reason.BAD_IMO, f"IMO {imo} fails the check digit; dropped"))
        return 0
    return imo


def convert_message(msg: Any, nbits: int, ts_ms: int | None) -> ParseResult:
    """A decoded pyais message to a record, Ignored or Rejection (time checked later)."""
    msg_type = int(msg.msg_type)
    mmsi = int(msg.mmsi) if msg.mmsi is not None else 0
    if not 1 <= msg_type <= 27:
        return Rejection(Reason.UNDECODABLE_NMEA, f"AIS message type {msg_type} does not exist")
    if msg_type not in POSITION_TYPES and msg_type not in STATIC_TYPES:
        name = AIS_TYPE_NAMES.get(msg_type, "other AIS message")
        return Ignored("ais_message_type", f"AIS type {msg_type}: {name}", msg_type, mmsi)
    need = _MIN_BITS.get(msg_type, 0)
    if msg_type == 24:
        need = _MIN_BITS_24A if msg.partno == 0 else _MIN_BITS_24B
    if nbits < need:
        return Rejection(
            Reason.UNDECODABLE_NMEA,
            f"AIS type {msg_type} payload has {nbits} bits, needs at least {need}",
        )
    if not valid_mmsi(mmsi):
        return Rejection(Reason.BAD_MMSI, f"MMSI {mmsi} is not 1..999999999")
    if ts_ms is None:
        return Rejection(Reason.MISSING_TIME, "no receive time (prefix, tag block or fallback)")
    notes: list[Note] = []
    if msg_type in POSITION_TYPES:
        lat, lon = float(msg.lat), float(msg.lon)
        bad = check_position(lat, lon)
        if bad is not None:
            return bad
        status = float(int(msg.status)) if msg_type <= 3 else math.nan
        motion = normalize_motion(float(msg.speed), float(msg.course), float(msg.heading), status)
        if isinstance(motion, Rejection):
            return motion
        sog, cog, heading, nav_status = motion
        ais_class = AisClass.A if msg_type <= 3 else AisClass.B
        static: VesselStaticRecord | None = None
        ship_type = 0
        if msg_type == 19 and nbits >= 301:
            ship_type = int(msg.ship_type)
            static = VesselStaticRecord(
                name=fit_text(msg.shipname or "", 20, "name", notes),
                ship_type=ship_type,
                ais_class=AisClass.B,
                **_static_common(
                    ts_ms,
                    mmsi,
                    msg_type,
                    _dims(msg.to_bow, msg.to_stern, msg.to_port, msg.to_starboard),
                    notes,
                ),
            )
        return PositionRecord(
            ts_ms=ts_ms,
            mmsi=mmsi,
            lat=lat,
            lon=lon,
            sog=sog,
            cog=cog,
            heading=heading,
            nav_status=nav_status,
            msg_type=msg_type,
            ship_type=ship_type,
            ais_class=ais_class,
            static=static,
            notes=tuple(notes),
        )
    if msg_type == 5:
        draught = float(msg.draught or 0.0)
        return VesselStaticRecord(
            imo=_imo(msg.imo, notes),
            name=fit_text(msg.shipname or "", 20, "name", notes),
            callsign=fit_text(msg.callsign or "", 7, "callsign", notes),
            destination=fit_text(msg.destination or "", 20, "destination", notes),
            ship_type=int(msg.ship_type),
            draft=draught if draught > 0 else math.nan,
            ais_class=AisClass.A,
            notes=tuple(notes),
            **_static_common(
                ts_ms,
                mmsi,
                5,
                _dims(msg.to_bow, msg.to_stern, msg.to_port, msg.to_starboard),
                notes,
            ),
        )
    # Type 24: part A carries the name, part B type, call sign and dimensions
    # (auxiliary craft carry the mother ship's MMSI instead of dimensions).
    if msg.partno == 0:
        return VesselStaticRecord(
            name=fit_text(msg.shipname or "", 20, "name", notes),
            part="A",
            ais_class=AisClass.B,
            notes=tuple(notes),
            **_static_common(ts_ms, mmsi, 24, (0, 0, 0, 0), notes),
        )
    dims = _dims(
        getattr(msg, "to_bow", None),
        getattr(msg, "to_stern", None),
        getattr(msg, "to_port", None),
        getattr(msg, "to_starboard", None),
    )
    return VesselStaticRecord(
        callsign=fit_text(msg.callsign or "", 7, "callsign", notes),
        ship_type=int(msg.ship_type or 0),
        part="B",
        ais_class=AisClass.B,
        notes=tuple(notes),
        **_static_common(ts_ms, mmsi, 24, dims, notes),
    )


def _decode(sentence: AISSentence, ts_ms: int | None) -> ParseResult:
    try:
        msg = sentence.decode()
    except UnknownMessageException:
        if not 1 <= sentence.ais_id <= 27:
            return Rejection(
                Reason.UNDECODABLE_NMEA, f"AIS message type {sentence.ais_id} does not exist"
            )
        return Ignored(
            "ais_message_type",
            f"AIS type {sentence.ais_id}: not decodable by pyais",
            int(sentence.ais_id),
        )
    except Exception as exc:
        detail = "empty payload" if not sentence.payload else f"{type(exc).__name__}: {exc}"
        return Rejection(Reason.UNDECODABLE_NMEA, f"cannot decode AIS payload ({detail})"[:200])
    try:
        return convert_message(msg, _bits(sentence), ts_ms)
    except Exception as exc:  # a payload pyais decodes into values we cannot use
        return Rejection(
            Reason.UNDECODABLE_NMEA, f"AIS payload has unusable fields ({type(exc).__name__})"
        )


class AisNmeaParser:
    """Stateful AIS NMEA parser: one call per source line, with multipart assembly.

    ``feed`` returns the outcomes that became final with this line: usually one
    (the line's own result, possibly a :class:`Fragment`), plus a rejection per
    line of any multipart message evicted from the buffer. ``flush`` rejects all
    incomplete multiparts (call it at end of file or before a checkpoint).

    >>> p = AisNmeaParser()
    >>> line = b"1452468552.938 !AIVDM,1,1,,B,14Wtnn002SGLde:BbrBmdTLF0Vql,0*6E"
    >>> [(o.result.mmsi, o.result.ts_ms) for o in p.feed(line, ref=0)]
    [(310327000, 1452468552938)]
    """

    def __init__(
        self,
        *,
        fallback_time_ms: int | None = None,
        window: TimeWindow | None = None,
        max_bytes: int = 1024,
        max_pending: int = 64,
        max_age_ms: int = 60_000,
    ) -> None:
        self.fallback_time_ms = fallback_time_ms
        self.window = window
        self.max_bytes = max_bytes
        self.max_pending = max_pending
        self.max_age_ms = max_age_ms
        self._pending: dict[str, _Pending] = {}

    @property
    def pending(self) -> int:
        """Multipart messages waiting for more fragments."""
        return len(self._pending)

    def pending_refs(self) -> list[Hashable]:
        """Refs of the buffered fragment lines, oldest message first.

        A consumer that commits offsets must not commit past the smallest of these:
        after a restart those lines have to be read again (the buffer is not saved).
        """
        return [ref for entry in self._pending.values() for (_, ref, _, _) in entry.parts.values()]

    def feed(
        self, raw: bytes, ref: Hashable = None, *, fallback_time_ms: int | None = None
    ) -> list[Outcome]:
        """Parse one line. Never raises on bad input."""
        out: list[Outcome] = []
        result = self._parse(raw, ref, fallback_time_ms, out)
        if result is not None:
            out.append(Outcome(ref, raw, result))
        return out

    def flush(self) -> list[Outcome]:
        """Reject every buffered incomplete multipart message."""
        out: list[Outcome] = []
        for key in list(self._pending):
            self._evict(key, "flushed", out)
        return out

    # -- internals ---------------------------------------------------------

    def _parse(
        self, raw: bytes, ref: Hashable, fallback: int | None, out: list[Outcome]
    ) -> ParseResult | None:
        if len(raw) > self.max_bytes:
            return Rejection(
                Reason.OVERSIZED_RECORD, f"line of {len(raw)} bytes exceeds {self.max_bytes}"
            )
        line = raw.strip()
        if not line:
            return Ignored("blank_line", "empty line")
        if not line.isascii():
            return Rejection(Reason.BAD_ENCODING, "NMEA line contains non-ASCII bytes")
        split = _split_line(line)
        if isinstance(split, Rejection):
            return split
        text, prefix_s, tag = split
        tag_s: float | None = None
        source: str | None = None
        if tag is not None:
            parsed_tag = _parse_tag_block(tag)
            if isinstance(parsed_tag, Rejection):
                return parsed_tag
            tag_s, source = parsed_tag
        if text[:1] not in (b"!", b"$"):
            return Rejection(Reason.UNDECODABLE_NMEA, f"not an NMEA sentence: {_clip(text)!r}")
        bad = _check_sentence_checksum(text)
        if bad is not None:
            return bad
        try:
            sentence = NMEASentenceFactory.produce(text)
        except UnknownMessageException:
            return Rejection(Reason.UNDECODABLE_NMEA, f"not an AIS sentence: {_clip(text)!r}")
        except Exception as exc:
            return Rejection(
                Reason.UNDECODABLE_NMEA,
                f"malformed NMEA sentence ({type(exc).__name__}): {exc}"[:200],
            )
        if not isinstance(sentence, AISSentence):
            return Rejection(Reason.UNDECODABLE_NMEA, f"not an AIS sentence: {_clip(text)!r}")
        if _PAYLOAD_RE.fullmatch(sentence.payload) is None:
            return Rejection(
                Reason.UNDECODABLE_NMEA, "payload has characters outside the AIS 6-bit armour"
            )
        ts_s = tag_s if tag_s is not None else prefix_s
        ts_ms: int | None
        if ts_s is not None:
            converted = epoch_seconds_to_ms(ts_s, "receive time")
            if isinstance(converted, Rejection):
                return converted
            ts_ms = converted
        else:
            ts_ms = fallback if fallback is not None else self.fallback_time_ms
        if ts_ms is not None:
            self._expire(ts_ms, out)
        if sentence.frag_cnt == 1:
            return self._finish(_decode(sentence, ts_ms))
        return self._add_fragment(sentence, source, ref, raw, ts_ms, out)

    def _finish(self, result: ParseResult) -> ParseResult:
        if self.window is not None and isinstance(result, PositionRecord | VesselStaticRecord):
            bad = self.window.check(result.ts_ms)
            if bad is not None:
                return bad
        return result

    def _add_fragment(
        self,
        sentence: AISSentence,
        source: str | None,
        ref: Hashable,
        raw: bytes,
        ts_ms: int | None,
        out: list[Outcome],
    ) -> ParseResult | None:
        key = f"{source or sentence.talker_id}:{sentence.channel}:{sentence.seq_id}"
        entry = self._pending.get(key)
        clash = entry is not None and (
            entry.of != sentence.frag_cnt or sentence.frag_num in entry.parts
        )
        if clash:
            self._evict(key, "superseded by a new message with the same sequence id", out)
            entry = None
        if entry is None:
            entry = _Pending(sentence.frag_cnt, ts_ms)
            self._pending[key] = entry
            if len(self._pending) > self.max_pending:
                self._evict(next(iter(self._pending)), "buffer full", out)
        entry.parts[sentence.frag_num] = (sentence, ref, raw, ts_ms)
        if len(entry.parts) < entry.of:
            return Fragment(sentence.frag_num, entry.of, key)
        del self._pending[key]
        ordered = [entry.parts[i] for i in sorted(entry.parts)]
        times = [t for (_, _, _, t) in ordered if t is not None]
        ts = times[0] if times else None
        try:
            assembled = AISSentence.assemble_from_iterable([p[0] for p in ordered])
        except Exception as exc:
            result: ParseResult = Rejection(
                Reason.UNDECODABLE_NMEA, f"cannot assemble multipart ({type(exc).__name__})"
            )
        else:
            result = self._finish(_decode(assembled, ts))
        if isinstance(result, Rejection):
            # Every line of the message goes to the dead letters with the reason.
            for _, part_ref, part_raw, _ in ordered[:-1]:
                out.append(Outcome(part_ref, part_raw, result))
            return result
        refs = tuple(p[1] for p in ordered)
        out.append(Outcome(ref, raw, result, refs))
        return None

    def _expire(self, now_ms: int, out: list[Outcome]) -> None:
        limit = now_ms - self.max_age_ms
        while self._pending:
            key = next(iter(self._pending))
            first = self._pending[key].first_ts_ms
            if first is None or first >= limit:
                return
            self._evict(key, f"older than {self.max_age_ms} ms", out)

    def _evict(self, key: str, why: str, out: list[Outcome]) -> None:
        entry = self._pending.pop(key)
        have = sorted(entry.parts)
        rejection = Rejection(
            Reason.INCOMPLETE_MULTIPART,
            f"multipart message {key} has fragments {have} of {entry.of} ({why})",
        )
        for part in have:
            _, ref, raw, _ = entry.parts[part]
            out.append(Outcome(ref, raw, rejection))
