"""Helpers for the feed tests: AIS sentences built with pyais's encoder, so each
test states the field values it decodes back."""

from __future__ import annotations

from typing import Any

from pyais.encode import encode_dict

# 2016-01-10T23:29:12.938Z, the first receive time of the San Pedro Bay capture.
T0_S = 1452468552.938
T0_MS = 1452468552938


#: an AIS type 5 (static and voyage data) report of a real ship, for the NMEA tests
EVER_GIVEN: dict[str, Any] = {
    "type": 5, "mmsi": 353136000, "imo": 9074729, "callsign": "3FOF8",
    "shipname": "EVER GIVEN", "ship_type": 71, "to_bow": 200, "to_stern": 200,
    "draught": 14.5,
}


def sentences(
    channel: str = "A", seq_id: int | None = None, talker: str = "AI", **fields: Any
) -> list[bytes]:
    """NMEA sentences (bytes) for one AIS message with the given fields."""
    # pyais picks the class from "type"; the payload's own type field needs "msg_type".
    fields.setdefault("msg_type", fields["type"])
    return [
        s.encode("ascii")
        for s in encode_dict(
            fields, talker_id=talker, sentence_type="VDM", radio_channel=channel, seq_id=seq_id
        )
    ]


def with_time(sentence: bytes, t_s: float = T0_S) -> bytes:
    """The ``<epoch> <sentence>`` line form."""
    return f"{t_s:.3f} ".encode() + sentence


def tag_block(body: str) -> bytes:
    """``\\body*hh\\`` with a correct checksum."""
    check = 0
    for b in body.encode():
        check ^= b
    return f"\\{body}*{check:02X}\\".encode()


POSITION_FIELDS: dict[str, Any] = {
    "type": 1,
    "mmsi": 366999712,
    "status": 1,
    "speed": 0.1,
    "lon": -118.21,
    "lat": 33.72,
    "course": 127.5,
    "heading": 130,
}
