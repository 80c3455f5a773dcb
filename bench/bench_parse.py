"""Throughput of feed parsing and the canonical codec, with baselines from the same run.

Run from the project root:  python bench/bench_parse.py [--repeat N] [--data DIR]

It reads the real samples in ../shared/data (San Pedro Bay NMEA capture,
MarineCadastre CSV sample), repeats them, and prints records per second for

* NMEA parsing (FeedParser: checksums, tag blocks, multipart assembly, validation)
  against plain ``pyais.decode`` per sentence;
* MarineCadastre CSV parsing against ``csv.DictReader`` with float conversion;
* canonical encode and batch decode against ``json.dumps`` / ``json.loads`` per record.

A benchmark, not a test: it prints figures and never fails on a time.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyais

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from streams.feeds import (  # noqa: E402
    FeedContext,
    FeedFormat,
    Kind,
    PositionRecord,
    decode_batch,
    encode,
    parse_lines,
    validate_batch,
)

NUMERIC_COLUMNS = ("LAT", "LON", "SOG", "COG", "Heading", "Length", "Width", "Draft")


def best_of(fn: Callable[[], int], runs: int) -> tuple[float, int]:
    """Best wall time of ``runs`` calls and the count the call returns."""
    best = float("inf")
    count = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - t0)
    return best, count


def report(name: str, ours: tuple[float, int], base: tuple[float, int], base_name: str) -> None:
    (t, n), (tb, nb) = ours, base
    rate, base_rate = n / t, nb / tb
    print(
        f"{name:<28} {rate:>12,.0f} /s   {base_name:<34} {base_rate:>12,.0f} /s"
        f"   ratio {rate / base_rate:5.2f}"
    )


def bench_nmea(lines: list[bytes], runs: int) -> list[PositionRecord]:
    ctx = FeedContext(FeedFormat.AIS_NMEA)
    positions: list[PositionRecord] = []

    def ours() -> int:
        positions.clear()
        for o in parse_lines(lines, ctx):
            if isinstance(o.result, PositionRecord):
                positions.append(o.result)
        return len(lines)

    def baseline() -> int:
        decode = pyais.decode
        for line in lines:
            sentence = line.split(b" ", 1)[-1]
            if b",1,1," not in sentence[:12]:
                continue  # the baseline does no multipart assembly
            with contextlib.suppress(Exception):
                decode(sentence)
        return len(lines)

    report("NMEA lines (FeedParser)", best_of(ours, runs), best_of(baseline, runs),
           "pyais.decode per sentence")  # fmt: skip
    return positions


def bench_csv(lines: list[bytes], runs: int) -> None:
    ctx = FeedContext(FeedFormat.AIS_MARINECADASTRE_CSV)
    text = b"\n".join(lines).decode()

    def ours() -> int:
        return sum(1 for o in parse_lines(lines, ctx)) - 1

    def baseline() -> int:
        n = 0
        for row in csv.DictReader(io.StringIO(text)):
            for col in NUMERIC_COLUMNS:
                v = row[col]
                row[col] = float(v) if v else None  # type: ignore[assignment]
            n += 1
        return n

    report("CSV rows (MarineCadastre)", best_of(ours, runs), best_of(baseline, runs),
           "csv.DictReader + float()")  # fmt: skip


def bench_codec(positions: list[PositionRecord], runs: int) -> None:
    wires: list[bytes] = []

    def enc() -> int:
        wires[:] = encode(positions)
        return len(wires)

    dicts = [dataclasses.asdict(p) for p in positions]
    for d in dicts:
        d.pop("static"), d.pop("notes")
    jsons: list[bytes] = []

    def enc_json() -> int:
        jsons[:] = [json.dumps(d).encode() for d in dicts]
        return len(jsons)

    report("canonical encode", best_of(enc, runs), best_of(enc_json, runs), "json.dumps per record")

    def dec() -> int:
        batch = decode_batch(wires, Kind.POSITION)
        validate_batch(batch.records, Kind.POSITION)
        return len(batch.records)

    def dec_json() -> int:
        return len([json.loads(j) for j in jsons])

    report("batch decode + validate", best_of(dec, runs), best_of(dec_json, runs),
           "json.loads per record")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="times each sample is repeated")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per case (best is kept)")
    parser.add_argument("--data", type=Path, default=PROJECT_ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    nmea = (args.data / "ais-socal-nmea" / "sample.ais").read_bytes().splitlines() * args.repeat
    noaa = (args.data / "ais-noaa-sample" / "test_data_noaa_20230101.csv").read_bytes()
    noaa_lines = noaa.splitlines()
    csv_lines = noaa_lines[:1] + noaa_lines[1:] * (10 * args.repeat)
    print(
        f"python {sys.version.split()[0]}, pyais {pyais.__version__}; "
        f"{len(nmea):,} NMEA lines, {len(csv_lines) - 1:,} CSV rows, best of {args.runs}"
    )
    t0 = time.perf_counter()
    positions = bench_nmea(nmea, args.runs)
    bench_csv(csv_lines, args.runs)
    bench_codec(positions * 4, args.runs)
    print(f"{len(positions) * 4:,} position records in the codec cases; "
          f"total {time.perf_counter() - t0:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
