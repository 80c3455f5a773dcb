"""Container engine against a plain per-container reference written in the test."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from streams.features.containers import ContainerConfig, ContainerFeatures
from streams.features.windows import WindowConfig, merge_partials
from streams.geo import load_geography
from tests.features.helpers import MIN, T0, H, container_events

DAY = 24 * H
CFG = ContainerConfig(window=WindowConfig(interval_s=86_400, lateness_s=0))


def reference(events: np.ndarray, step: int) -> dict[tuple[str, int], float]:
    """Walk the events container by container, then evaluate each interval end."""
    by_box: dict[bytes, list[Any]] = defaultdict(list)
    seen = set()
    for ts, box, ev, port, term in events.tolist():
        if (ts, box, ev, port, term) in seen:
            continue
        seen.add((ts, box, ev, port, term))
        by_box[box].append((ts, ev, port.decode() + "|" + term.decode()))
    visits = []  # (terminal, discharge ts, leave ts or None, leave event)
    for evs in by_box.values():
        evs.sort(key=lambda e: (e[0], e[1], e[2]))
        cur = None
        for ts, ev, term in evs:
            if ev == 1 and cur is None:
                cur = (term, ts)
            elif ev in (2, 3) and cur is not None:
                visits.append((cur[0], cur[1], ts, ev))
                cur = None
        if cur is not None:
            visits.append((cur[0], cur[1], None, 0))
    first: dict[str, int] = {}
    for ts, _, _, port, term in events.tolist():
        for t in (port.decode() + "|" + term.decode(), port.decode()):
            first[t] = min(first.get(t, ts), ts)
    lo = int(events["ts_ms"].min()) // step * step
    hi = (int(events["ts_ms"].max()) // step + 1) * step
    out: dict[tuple[str, int], float] = {}
    for end in range(lo + step, hi + 1, step):
        for target, t_first in first.items():
            if end < t_first // step * step + step:
                continue
            mine = [v for v in visits if v[0] == target or v[0].split("|")[0] == target]
            ages = [(end - d) / DAY for _, d, leave, _ in mine
                    if d < end and (leave is None or leave >= end)]  # fmt: skip
            out[("boxes_on_terminal|" + target, end // 1000)] = float(len(ages))
            out[("past_truck_limit|" + target, end // 1000)] = float(sum(a >= 9 for a in ages))
            out[("past_rail_limit|" + target, end // 1000)] = float(sum(a >= 3 for a in ages))
            out[("age_p90|" + target, end // 1000)] = (
                float(np.percentile(ages, 90)) if ages else np.nan
            )
            left = [(leave - d) / DAY for _, d, leave, ev in mine
                    if leave is not None and end - step <= leave < end]  # fmt: skip
            truck = [(leave - d) / DAY for _, d, leave, ev in mine
                     if ev == 2 and end - step <= leave < end]  # fmt: skip
            for name, vals in (("dwell", left), ("dwell_truck", truck)):
                for q in (50, 90):
                    out[(f"{name}_p{q}|{target}", end // 1000)] = (
                        float(np.percentile(vals, q)) if vals else np.nan
                    )
    return out


def test_engine_matches_reference_on_a_clean_feed() -> None:
    events = container_events(seed=3, n=120, days=25)
    eng = ContainerFeatures(CFG)
    pts = merge_partials([eng.process(events), eng.flush()]).as_dict()
    ref = reference(events, 86_400_000)
    assert len(ref) > 500
    for key, want in ref.items():
        got = pts[key]
        if np.isnan(want):
            assert np.isnan(got), key
        else:
            assert got == pytest.approx(want, rel=1e-12, abs=1e-12), key
    assert eng.stats["orphans"] == 5
    assert eng.stats["duplicates"] >= 1


def test_limits_come_from_the_geography() -> None:
    cfg = ContainerConfig.from_geography(load_geography(), "san-pedro-bay")
    assert (cfg.truck_limit_days, cfg.rail_limit_days) == (9.0, 3.0)


def _ev(ts: int, box: bytes, ev: int, term: bytes = b"APM") -> tuple[Any, ...]:
    return (ts, box, ev, b"USLAX", term)


def _arr(rows: list[tuple[Any, ...]]) -> np.ndarray:
    from streams.feeds.codec import CONTAINER_EVENT_DTYPE

    return np.array(rows, dtype=CONTAINER_EVENT_DTYPE)


def test_orphan_second_discharge_duplicate_and_late() -> None:
    a, b, c = b"MSCU1234565", b"TGHU0000001", b"TGHU0000002"
    eng = ContainerFeatures(CFG)
    first = _arr([
        _ev(T0, a, 1), _ev(T0, a, 1),  # duplicate
        _ev(T0 + 2 * H, a, 1),  # second discharge: ignored, dwell from T0
        _ev(T0 + 3 * H, b, 2),  # gate-out, never discharged: orphan
        _ev(T0 + 4 * DAY + 6 * H, a, 2),  # leaves by truck after 4.25 days
        _ev(T0 + 5 * DAY, c, 1),
    ])  # fmt: skip
    parts = [eng.process(first)]
    parts.append(eng.process(_arr([_ev(T0 + 10 * MIN, c, 3)])))  # late, older than c's discharge
    parts.append(eng.flush())
    pts = merge_partials(parts).as_dict()
    assert eng.stats["duplicates"] == 1
    assert eng.stats["second_discharge"] == 1
    assert eng.stats["orphans"] == 1
    assert eng.stats["late"] == 1 and eng.stats["late_applied"] == 0
    left = (T0 + 4 * DAY + 6 * H) // DAY * DAY + DAY  # end of the day a leaves
    assert pts[("dwell_truck_p50|USLAX|APM", left // 1000)] == pytest.approx(4.25)
    assert np.isnan(pts[("dwell_rail_p50|USLAX|APM", left // 1000)])
    assert pts[("boxes_on_terminal|USLAX|APM", left // 1000)] == 0.0
    assert pts[("boxes_on_terminal|USLAX|APM", (left - DAY) // 1000)] == 1.0
    assert pts[("past_rail_limit|USLAX|APM", (left - DAY) // 1000)] == 1.0  # 3.96 days old
    assert pts[("past_truck_limit|USLAX|APM", (left - DAY) // 1000)] == 0.0
    # c, discharged on day 5, stays: the late rail load older than it is not applied
    assert pts[("boxes_on_terminal|USLAX", (left + DAY) // 1000)] == 1.0
    assert pts[("boxes_on_terminal|USLAX|APM", (T0 + H) // DAY * DAY // 1000 + 86_400)] == 1.0
