"""One encoder and decoder per kind of record berthwatch writes to Kafka (besides the feeds).

* dead letters (:class:`DeadLetter`): the rejected record as it came, with where it came
  from and why in its headers;
* replay-begin markers (:func:`replay_begin_marker`, :func:`is_replay_begin`): an empty
  record a replay sends to every partition of every feed topic before its first record;
* end-of-feed markers (:func:`end_of_feed_marker`, :func:`end_of_feed_of`): an empty
  record a complete replay sends to every partition of every feed topic;
* alert transitions of the compacted alerts topic (:func:`encode_alert`,
  :func:`decode_alert`);
* partials messages from the feature stage to the detection shards
  (:class:`PartialsMessage`);
* checkpoints of the worker's partitions (:func:`pack_checkpoint`,
  :func:`unpack_checkpoint`, :func:`checkpoint_key`).

The canonical feed records themselves are :mod:`streams.feeds.codec`'s.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from streams.alerting import alert_name, labels_of
from streams.detection import AlertTransition
from streams.features import Partials

Headers = list[tuple[str, bytes]]


class WireRecord(NamedTuple):
    """A record to produce: key, value, timestamp (ms; None: the producer's clock), headers."""

    key: bytes | None
    value: bytes
    timestamp_ms: int | None
    headers: Headers


def header(headers: Iterable[tuple[str, bytes]] | None, name: str) -> str | None:
    """The value of the first header ``name``, decoded; None when there is none.

    >>> header([("a", b"1"), ("b", b"2")], "b"), header(None, "b")
    ('2', None)
    """
    for k, v in headers or ():
        if k == name:
            return bytes(v).decode()
    return None


# --------------------------------------------------------------------------- dead letters

FILE_PARTITION = -1
"""``source_partition`` of a line of a file (its ``source_offset`` is the line number)."""
DEAD_LETTER_PREFIX = 64 * 1024
"""The most of a rejected record's bytes (and of its key) a dead letter carries; the whole
is named by its length and SHA-256 in the headers, so a dead letter always fits."""
DEAD_LETTER_MAX_BYTES = 1 << 20
"""``max.message.bytes`` of the dead-letter topic, set explicitly: a prefix, a key and the
headers fit with room."""
_MESSAGE_CHARS = 2000


@dataclass(frozen=True)
class DeadLetter:
    """Where a rejected record came from and why: the headers of its dead-letter record
    (the value is the rejected record's bytes, the key its key).

    >>> d = DeadLetter.of_line("ais.txt", 7, "bad_checksum", "checksum 0x1A, expected 0x2B")
    >>> d.headers()  # doctest: +NORMALIZE_WHITESPACE
    [('source_topic', b'file:ais.txt'), ('source_partition', b'-1'),
     ('source_offset', b'7'), ('error_class', b'bad_checksum'),
     ('error_message', b'checksum 0x1A, expected 0x2B')]
    >>> DeadLetter.from_headers(d.headers()) == d
    True
    """

    source_topic: str
    """The topic the record was read from, or ``file:NAME`` for a line of a file."""
    source_partition: int
    source_offset: int
    error_class: str
    """The reason code (:class:`streams.feeds.results.Reason` value)."""
    error_message: str
    original_length: int = -1
    """Length in bytes of the rejected record (-1: not given); see :meth:`bounded`."""
    original_sha256: str = ""

    def bounded(self, value: bytes | None, key: bytes | None = None) -> tuple[
        DeadLetter, bytes, bytes | None
    ]:
        """This dead letter for the rejected ``value`` (and ``key``): at most
        :data:`DEAD_LETTER_PREFIX` bytes of each, the value's length and SHA-256 in the
        headers, the message cut to 2,000 characters. Nothing a producer can be handed
        makes a dead letter too large for its topic.

        >>> d, v, k = DeadLetter.of_line("f.csv", 3, "line_too_long", "x").bounded(b"a" * 10**6)
        >>> len(v), d.original_length, d.original_sha256[:12]
        (65536, 1000000, 'cdc76e5c9914')
        """
        raw = value or b""
        letter = DeadLetter(
            self.source_topic, self.source_partition, self.source_offset, self.error_class,
            self.error_message[:_MESSAGE_CHARS], len(raw), hashlib.sha256(raw).hexdigest(),
        )
        cut_key = None if key is None else key[:DEAD_LETTER_PREFIX]
        return letter, raw[:DEAD_LETTER_PREFIX], cut_key

    @classmethod
    def of_line(cls, file_name: str, line: int, reason: str, message: str) -> DeadLetter:
        """A line of a replayed file."""
        return cls(f"file:{file_name}", FILE_PARTITION, line, reason, message)

    def headers(self) -> Headers:
        out = [
            ("source_topic", self.source_topic.encode()),
            ("source_partition", str(self.source_partition).encode()),
            ("source_offset", str(self.source_offset).encode()),
            ("error_class", self.error_class.encode()),
            ("error_message", self.error_message.encode()),
        ]
        if self.original_length >= 0:
            out.append(("original_length", str(self.original_length).encode()))
            out.append(("original_sha256", self.original_sha256.encode()))
        return out

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes]]) -> DeadLetter:
        """Read back a dead letter's headers (KeyError/ValueError if they are not one's)."""
        h = {k: bytes(v).decode() for k, v in headers}
        return cls(h["source_topic"], int(h["source_partition"]), int(h["source_offset"]),
                   h["error_class"], h["error_message"], int(h.get("original_length", -1)),
                   h.get("original_sha256", ""))


# --------------------------------------------------------------------------- replay begin

REPLAY_BEGIN_HEADER = "berthwatch-replay-begin"
"""Header of a replay-begin marker: an empty record a replay (and each ``--resume`` of it)
sends to every partition of every feed topic before its first record. From it to the
end-of-feed marker the partition is replaying: the workers wait for its data however long
it takes, and never count it as idle. The value is the event time (ms) where the records
of the replay begin, which is also its timestamp."""


def replay_begin_marker(first_ms: int) -> WireRecord:
    """The marker that puts a feed partition in replay mode (``first_ms``: the event time
    where the replay's records begin).

    >>> replay_begin_marker(1_637_000_000_000)  # doctest: +NORMALIZE_WHITESPACE
    WireRecord(key=None, value=b'', timestamp_ms=1637000000000,
               headers=[('berthwatch-replay-begin', b'1637000000000')])
    >>> is_replay_begin(replay_begin_marker(5).headers), is_replay_begin([])
    (True, False)
    """
    return WireRecord(None, b"", first_ms, [(REPLAY_BEGIN_HEADER, str(first_ms).encode())])


def is_replay_begin(headers: Iterable[tuple[str, bytes]] | None) -> bool:
    """Whether a consumed record is a replay-begin marker."""
    return header(headers, REPLAY_BEGIN_HEADER) is not None


# --------------------------------------------------------------------------- end of feed

END_OF_FEED_HEADER = "berthwatch-end-of-feed"
"""Header of an end-of-feed marker: an empty record a replay sends to every partition of
every feed topic when it is done; the value is the newest event time (ms) of the topic."""


def end_of_feed_marker(newest_ms: int) -> WireRecord:
    """The marker that closes a feed partition up to ``newest_ms`` (the topic's newest
    event time), which is also its timestamp.

    >>> end_of_feed_marker(1_637_000_000_000)  # doctest: +NORMALIZE_WHITESPACE
    WireRecord(key=None, value=b'', timestamp_ms=1637000000000,
               headers=[('berthwatch-end-of-feed', b'1637000000000')])
    >>> end_of_feed_of(end_of_feed_marker(5).headers), end_of_feed_of([])
    (5, None)
    """
    return WireRecord(None, b"", newest_ms, [(END_OF_FEED_HEADER, str(newest_ms).encode())])


def end_of_feed_of(headers: Iterable[tuple[str, bytes]] | None) -> int | None:
    """The newest event time (ms) of a consumed end-of-feed marker; None for any other
    record."""
    value = header(headers, END_OF_FEED_HEADER)
    return None if value is None else int(value)


# --------------------------------------------------------------------------- alerts


def encode_alert(a: AlertTransition) -> bytes:
    """The alerts topic's value (keyed by ``a.key``): the transition as JSON with its alert
    name and labels (missing numbers as null)."""
    body = a.as_dict()
    body.update({"name": alert_name(a.detector), "labels": labels_of(a)})
    return json.dumps(body, sort_keys=True).encode()


def decode_alert(data: bytes) -> AlertTransition:
    """Read an alerts-topic value back into the transition (its name and labels are
    :func:`streams.alerting.alert_name` and :func:`streams.alerting.labels_of` of it)."""
    return AlertTransition.from_dict(json.loads(data))


# --------------------------------------------------------------------------- partials

END_OF_FEED = 2**62
"""Closed boundary of a source whose feed ended (what its partials messages carry from
then on): every interval is closed."""

PARTIAL_GROUPS: dict[str, tuple[str, ...]] = {
    "sums": ("sums_key", "sums_end", "sums_val"),
    "samples": ("samples_key", "samples_end", "samples_val"),
    "values": ("values_key", "values_end", "values_val", "values_ts"),
}
"""The columns of :class:`~streams.features.Partials` by group (the first is the key)."""
_HEAD = struct.Struct("<I")


@dataclass
class PartialsMessage:
    """What one source tells one detection shard: its partials and its closed boundary,
    or that it is idle (a live partition that received nothing for a while).

    >>> m = PartialsMessage(3, 7_200_000, Partials(), idle=True)
    >>> PartialsMessage.decode(m.encode()).idle, PartialsMessage.decode(
    ...     PartialsMessage(3, 7_200_000, Partials()).encode()).idle
    (True, False)
    """

    source: int
    closed_ms: int
    partials: Partials
    idle: bool = False
    """The source received nothing for ``idle_partition_seconds``: the shard stops waiting
    for it until its next message that is not idle. Only in the header when true, so
    messages that are not idle are byte for byte what they were before it existed."""
    replaying: bool = False
    """The source is in a replay (a replay-begin marker came, no end-of-feed yet): the
    shard waits for every source again, idle ones included, so a replay into topics whose
    partitions idled before it stays exact. Only in the header when true."""

    def encode(self) -> bytes:
        """A JSON header (source, closed boundary, quantiles, column dtypes and lengths,
        ``idle`` and ``replaying`` when true), then the raw column bytes: far cheaper than
        ``np.savez`` at thousands a second."""
        cols = [getattr(self.partials, name) for names in PARTIAL_GROUPS.values()
                for name in names]
        fields: dict[str, Any] = {
            "source": self.source, "closed": self.closed_ms,
            "quantiles": self.partials.quantiles,
            "cols": [[a.dtype.str, len(a)] for a in cols],
        }  # fmt: skip
        if self.idle:
            fields["idle"] = True
        if self.replaying:
            fields["replaying"] = True
        head = json.dumps(fields).encode()
        return b"".join([_HEAD.pack(len(head)), head,
                         *(np.ascontiguousarray(a).tobytes() for a in cols)])

    @classmethod
    def decode(cls, data: bytes) -> PartialsMessage:
        (n,) = _HEAD.unpack_from(data)
        head = json.loads(data[_HEAD.size:_HEAD.size + n])
        p = Partials(quantiles={k: tuple(v) for k, v in head["quantiles"].items()})
        offset = _HEAD.size + n
        names = [name for group in PARTIAL_GROUPS.values() for name in group]
        for name, (dtype, count) in zip(names, head["cols"], strict=True):
            dt = np.dtype(dtype)
            setattr(p, name, np.frombuffer(data, dt, count, offset))
            offset += dt.itemsize * count
        return cls(int(head["source"]), int(head["closed"]), p, bool(head.get("idle", False)),
                   bool(head.get("replaying", False)))


# --------------------------------------------------------------------------- checkpoints

CHECKPOINT_VERSION = 1


def checkpoint_key(group: str, stage: str, topic: str, partition: int) -> bytes:
    """The checkpoints topic's key of one partition's state in one consumer group.

    >>> checkpoint_key("w1.pipeline", "features", "berthwatch.positions", 3)
    b'w1.pipeline|features|berthwatch.positions|3'
    """
    return f"{group}|{stage}|{topic}|{partition}".encode()


def pack_checkpoint(meta: Mapping[str, Any], state: bytes) -> bytes:
    """A checkpoint record: JSON header line, then the state, compressed (zlib, fast level)."""
    head = json.dumps({**meta, "version": CHECKPOINT_VERSION}, sort_keys=True).encode()
    return zlib.compress(head + b"\n" + state, 1)


def unpack_checkpoint(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The header and the state of a checkpoint record (ValueError: another version)."""
    raw = zlib.decompress(data)
    head, _, state = raw.partition(b"\n")
    meta = json.loads(head)
    if meta.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"checkpoint version {meta.get('version')}, expected {CHECKPOINT_VERSION}")
    return meta, state
