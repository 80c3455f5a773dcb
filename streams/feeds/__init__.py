"""Feed parsing, validation and the canonical binary codec.

Pure functions only: no Kafka client, no network. Producers and
``berthwatch replay`` call :class:`FeedParser` (or :func:`validate_line`) per
source line, send records encoded by :func:`encode` to the canonical topics and
rejections to the dead-letter topic (headers: :class:`streams.kafka.records.DeadLetter`);
workers call :func:`decode_batch`.
For CSV feeds in bulk, :class:`ChunkParser` parses blocks of lines with numpy and
gives exactly the per-line outcomes. See docs/FEEDS.md.
"""

from streams.feeds.ais_csv import MARINECADASTRE_COLUMNS, parse_marinecadastre
from streams.feeds.ais_nmea import AisNmeaParser
from streams.feeds.chunks import Chunk, ChunkParser
from streams.feeds.codec import (
    CODEC_VERSION,
    CONTAINER_EVENT_DTYPE,
    DTYPES,
    INVENTORY_DTYPE,
    POSITION_DTYPE,
    VESSEL_STATIC_DTYPE,
    BatchValidation,
    DecodedBatch,
    Kind,
    decode_batch,
    encode,
    encode_array,
    key_of,
    keys_of_array,
    to_array,
    validate_batch,
)
from streams.feeds.logistics import parse_container_event, parse_inventory
from streams.feeds.parse import FeedContext, FeedFormat, FeedParser, parse_lines, validate_line
from streams.feeds.results import (
    AisClass,
    ContainerEvent,
    ContainerEventType,
    Fragment,
    Ignored,
    InventorySnapshot,
    Note,
    Outcome,
    ParseResult,
    PositionRecord,
    Reason,
    ReasonCounter,
    Record,
    Rejection,
    VesselStaticRecord,
)
from streams.feeds.times import TimeWindow, parse_time

__all__ = [
    "CODEC_VERSION",
    "CONTAINER_EVENT_DTYPE",
    "DTYPES",
    "INVENTORY_DTYPE",
    "MARINECADASTRE_COLUMNS",
    "POSITION_DTYPE",
    "VESSEL_STATIC_DTYPE",
    "AisClass",
    "AisNmeaParser",
    "BatchValidation",
    "Chunk",
    "ChunkParser",
    "ContainerEvent",
    "ContainerEventType",
    "DecodedBatch",
    "FeedContext",
    "FeedFormat",
    "FeedParser",
    "Fragment",
    "Ignored",
    "InventorySnapshot",
    "Kind",
    "Note",
    "Outcome",
    "ParseResult",
    "PositionRecord",
    "Reason",
    "ReasonCounter",
    "Record",
    "Rejection",
    "TimeWindow",
    "VesselStaticRecord",
    "decode_batch",
    "encode",
    "encode_array",
    "key_of",
    "keys_of_array",
    "parse_container_event",
    "parse_inventory",
    "parse_lines",
    "parse_marinecadastre",
    "parse_time",
    "to_array",
    "validate_batch",
    "validate_line",
]
