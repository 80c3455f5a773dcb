"""Grouped alerts: the items of a site (``family|site|item``) alerted as one site alert.

Each item keeps its own alert policy (its quiet period, its clearly worse, its
re-arming); :class:`SiteAlerts` turns the items' transitions into the site's: the site's
alert (series ``family|site``) fires with its first item, items that fire while it is on
join it, and it resolves once none of its items has been firing for ``linger_s`` (the
items of one shortage that run low one after the other are one alert).
:func:`explain_site` writes what the operator reads: how many items are at risk, the
worst ones with their days of supply and the time to the limit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors import Transition
from detectors.policy import alert_key
from streams.detection.explain import explain
from streams.detection.outputs import AlertTransition
from streams.series import place_key
from streams.times import DAY

F64 = NDArray[np.float64]


@dataclass
class _Site:
    since: float
    items: set[str]
    ending: Transition | None = None
    """The site's resolution, waiting for ``linger_s`` of calm (None while an item fires)."""


class SiteAlerts:
    """The site alerts of one grouped route."""

    def __init__(self) -> None:
        self.sites: dict[str, _Site] = {}

    def update(
        self, t: float, items: Sequence[Transition], linger_s: float
    ) -> Iterator[tuple[Transition, str]]:
        """The site transitions of interval end ``t`` from the items' transitions, each with
        the item that caused it ("" for a resolution after the linger)."""
        for tr in items:
            site = place_key(tr.series)
            entry = self.sites.get(site)
            key = alert_key(site, tr.detector, tr.severity)
            if tr.state == "firing":
                if entry is not None:  # joins the site's alert, which stays on
                    entry.items.add(tr.series)
                    entry.ending = None
                    continue
                self.sites[site] = _Site(tr.ts, {tr.series})
                yield replace(tr, key=key, series=site, since=tr.ts), tr.series
            elif entry is not None:
                entry.items.discard(tr.series)
                if not entry.items:
                    entry.ending = replace(tr, key=key, series=site, since=entry.since)
        for site, entry in list(self.sites.items()):
            if entry.ending is not None and t - entry.ending.ts >= linger_s:
                del self.sites[site]
                yield replace(entry.ending, ts=t), ""

    def to_dict(self) -> dict[str, Any]:
        return {
            k: {
                "since": v.since,
                "items": sorted(v.items),
                "ending": None if v.ending is None else asdict(v.ending),
            }
            for k, v in self.sites.items()
        }

    def restore(self, d: dict[str, Any]) -> None:
        self.sites = {
            k: _Site(
                float(v["since"]),
                set(v["items"]),
                None if v["ending"] is None else Transition(**v["ending"]),
            )
            for k, v in d.items()
        }


def explain_site(
    tr: Transition,
    keys: Sequence[str],
    score: F64,
    val: F64,
    lim: F64,
    eta: F64,
    worst: int = 3,
) -> AlertTransition:
    """A site transition explained: on firing, how many of the site's items reporting at
    this interval end are at risk (score 0.8 or more) and the ``worst`` of them (lowest
    share of their limit) with their days of supply and days to the limit; the
    components are those items (series, days of supply, score)."""
    members = [i for i, k in enumerate(keys) if k.startswith(tr.series + "|")]
    risk = [i for i in members if np.isfinite(score[i]) and score[i] >= 0.8]
    top = sorted(risk or members, key=lambda i: (val[i] / lim[i], -score[i]))[:worst]
    if not top:
        return explain(tr, math.nan, tr.value, math.nan)
    a = explain(tr, lim[top[0]], val[top[0]], math.nan)
    text = a.explanation
    if tr.state == "firing":
        named = []
        for i in top:
            item = keys[i].rsplit("|", 1)[1]
            soon = math.isfinite(eta[i]) and eta[i] > 0
            when = f", limit in {eta[i] / DAY:.0f} d" if soon else ""
            named.append(f"{item} {val[i]:.3g} d{when}")
        text += f"; {len(risk)} of {len(members)} items at risk; worst: " + ", ".join(named)
    comps = tuple((keys[i], float(val[i]), float(score[i])) for i in top)
    return replace(a, explanation=text, components=comps)
