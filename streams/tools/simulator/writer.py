"""Writing the feeds: gzip CSV with a fixed header, byte-identical for the same input."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from streams.tools.simulator.containers import EVENT_NAMES, ContainerEvents
from streams.tools.simulator.vessels import STATUS_NONE, AisRows

__all__ = [
    "AIS_HEADER",
    "CONTAINER_HEADER",
    "INVENTORY_HEADER",
    "GzipText",
    "NmeaFields",
    "format_ais_lines",
    "write_containers",
    "write_nmea",
    "write_positions",
]

AIS_HEADER = (
    "MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,VesselType,"
    "Status,Length,Width,Draft,Cargo,TransceiverClass"
)
CONTAINER_HEADER = "time,port,terminal,container,event"
INVENTORY_HEADER = "time,site,item,on_hand,daily_usage"
COMPRESSLEVEL = 3


class GzipText:
    """A deterministic gzip text writer (no file name, zero mtime in the header)."""

    def __init__(self, path: Path) -> None:
        self._raw: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._gz = gzip.GzipFile(
            filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=COMPRESSLEVEL
        )
        self.lines = 0

    def write_lines(self, lines: Iterable[str], count: int) -> None:
        buf = io.StringIO()
        for line in lines:
            buf.write(line)
            buf.write("\n")
        self._gz.write(buf.getvalue().encode("ascii"))
        self.lines += count

    def write_text(self, text: str, count: int) -> None:
        if text:
            self._gz.write(text.encode("ascii"))
            self._gz.write(b"\n")
        self.lines += count

    def close(self) -> None:
        self._gz.close()
        self._raw.close()

    def __enter__(self) -> GzipText:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _iso_seconds(t: np.ndarray) -> list[str]:
    return list(t.astype("datetime64[s]").astype(str).tolist())


_STATUS_TEXT = {0: "0.0", 1: "1.0", 5: "5.0", STATUS_NONE: ""}


def format_ais_lines(
    rows: AisRows, statics: list[tuple[str, str, str]], chunk: int = 500_000
) -> Iterator[tuple[str, int]]:
    """CSV text (without header) in chunks of rows, as (text, row count).

    ``statics[i]`` = (MMSI text, "VesselName,IMO,CallSign,VesselType", "Length,...,Class").
    """
    mmsi_txt = np.array([s[0] for s in statics], dtype=object)
    mid_txt = np.array([s[1] for s in statics], dtype=object)
    tail_txt = np.array([s[2] for s in statics], dtype=object)
    status_keys = np.array(sorted(_STATUS_TEXT))
    status_txt = np.array([_STATUS_TEXT[k] for k in status_keys.tolist()], dtype=object)
    fmt_vessel = "%s,%s,%.5f,%.5f,%.1f,%.1f,%.1f,%s,%s,%s".__mod__
    fmt_station = "%s,%s,%.5f,%.5f,,,,%s,%s,%s".__mod__
    fmt_aircraft = "%s,%s,%.5f,%.5f,%.1f,%.1f,,%s,%s,%s".__mod__
    for lo in range(0, len(rows), chunk):
        sl = slice(lo, min(lo + chunk, len(rows)))
        st = rows.static[sl]
        status = status_txt[np.searchsorted(status_keys, rows.status[sl])]
        cols = [
            mmsi_txt[st].tolist(),
            _iso_seconds(rows.t[sl]),
            rows.lat[sl].tolist(),
            rows.lon[sl].tolist(),
            rows.sog[sl].tolist(),
            rows.cog[sl].tolist(),
            rows.heading[sl].tolist(),
            mid_txt[st].tolist(),
            status.tolist(),
            tail_txt[st].tolist(),
        ]
        no_sog = np.isnan(rows.sog[sl])
        no_hdg = np.isnan(rows.heading[sl])
        if not (no_sog.any() or no_hdg.any()):
            text = "\n".join(map(fmt_vessel, zip(*cols, strict=True)))
        else:
            lines = []
            for rec, a, b in zip(
                zip(*cols, strict=True), no_sog.tolist(), no_hdg.tolist(), strict=True
            ):
                if a:
                    lines.append(fmt_station((*rec[:4], *rec[7:])))
                elif b:
                    lines.append(fmt_aircraft((*rec[:6], *rec[7:])))
                else:
                    lines.append(fmt_vessel(rec))
            text = "\n".join(lines)
        yield text, sl.stop - sl.start


def write_positions(path: Path, rows: AisRows, statics: list[tuple[str, str, str]]) -> int:
    """``positions.csv.gz`` in the MarineCadastre layout; rows sorted by time then MMSI."""
    with GzipText(path) as out:
        out.write_text(AIS_HEADER, 0)
        for text, n in format_ais_lines(rows, statics):
            out.write_text(text, n)
        return out.lines


def write_containers(path: Path, events: ContainerEvents) -> int:
    order = np.lexsort((events.event, events.container, events.t))
    times = [s + "Z" for s in _iso_seconds(events.t[order].astype(np.int64))]
    names = np.array(EVENT_NAMES, dtype=object)[events.event[order]]
    cols = [times, events.port[order].tolist(), events.terminal[order].tolist(),
            events.container[order].tolist(), names.tolist()]  # fmt: skip
    with GzipText(path) as out:
        out.write_text(CONTAINER_HEADER, 0)
        out.write_text("\n".join(map(",".join, zip(*cols, strict=True))), len(times))
        return out.lines


NmeaFields = dict[str, str | int | float | bytes | bool]
"""Keyword fields of one AIS message for ``pyais.encode.encode_dict``."""


def write_nmea(
    path: Path,
    rows: AisRows,
    fleet_static: list[NmeaFields],
    static_every_s: float = 6 * 3600.0,
) -> int:
    """``positions.nmea.gz``: ``<epoch> !AIVDM,...`` lines, type 1 positions and type 5 static
    data (at a vessel's first report and then every ``static_every_s``). Slow: pyais encodes
    one message at a time. Non-vessel transmitters are skipped."""
    from pyais.encode import encode_dict

    kw = {"talker_id": "AI", "sentence_type": "VDM"}
    last_static: dict[int, float] = {}
    seq = 0
    with GzipText(path) as out:
        buf: list[str] = []
        for i in range(len(rows)):
            st = int(rows.static[i])
            if st >= len(fleet_static):
                continue
            t = float(rows.t[i])
            mmsi = int(rows.mmsi[i])
            if t - last_static.get(mmsi, -np.inf) >= static_every_s:
                last_static[mmsi] = t
                seq = seq % 9 + 1
                static: NmeaFields = {"type": 5, "mmsi": mmsi, **fleet_static[st]}
                for s in encode_dict(static, seq_id=seq, **kw):
                    buf.append(f"{t:.1f} {s}")
            heading = float(rows.heading[i])
            msg: NmeaFields = {
                "type": 1,
                "mmsi": mmsi,
                "status": int(rows.status[i]),
                "speed": round(float(rows.sog[i]), 1),
                "lon": round(float(rows.lon[i]), 5),
                "lat": round(float(rows.lat[i]), 5),
                "course": round(float(rows.cog[i]), 1),
                "heading": 511 if np.isnan(heading) else int(heading),
                "second": int(t) % 60,
            }
            buf.extend(f"{t:.1f} {s}" for s in encode_dict(msg, **kw))
            if len(buf) >= 100_000:
                out.write_lines(buf, len(buf))
                buf = []
        out.write_lines(buf, len(buf))
        return out.lines
