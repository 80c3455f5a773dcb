"""The alert budget: a series says one thing at a time, at most once per quiet period.

Each route's :class:`~detectors.AlertPolicy` already keeps its own quiet period (a
resolved alert does not fire again on that route for ``PolicyParams.cooldown_s`` unless
it got clearly worse). Several routes watch the same series, though (a queue has its
limit route and its ``changes`` route), and an operator counts alerts per series: the
:class:`AlertBudget` publishes a series' firing only if no firing of that series was
published in the last ``quiet_s`` seconds (any route), or if the series has been calm
since: none of its published alerts in force for ``rearm_s`` (a new event, not the
same trouble said again). A firing that arrives otherwise is *held*: if it resolves
first, neither transition is published; if it is still firing when the period ends, it
is published then (its ``since`` still says when the condition began), so a series that
stays in trouble is never shown as quiet. Routes in ``exempt`` (staleness: about the
feed, not the series) pass untouched.

>>> from streams.detection.outputs import AlertTransition
>>> def t(key: str, state: str, ts: float) -> AlertTransition:
...     nan = float("nan")
...     return AlertTransition(key, state, "q|P", "r", "warning", ts, 0.0, 1.0, nan, 0.9,
...                            nan, nan, nan, nan, nan, "")
>>> b = AlertBudget(quiet_s=10.0)
>>> [(a.key, a.state) for a in b.admit(0.0, [t("a", "firing", 0.0)])]
[('a', 'firing')]
>>> b.admit(3.0, [t("b", "firing", 3.0)])   # held: "a" fired 3 s ago
[]
>>> [(a.key, a.state, a.ts) for a in b.admit(10.0, [])]   # still firing after the period
[('b', 'firing', 10.0)]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from streams.detection.outputs import AlertTransition


class AlertBudget:
    """Per series: the event time of its last published firing, and the firings held."""

    def __init__(
        self, quiet_s: float, rearm_s: float = math.inf, exempt: Iterable[str] = ("staleness",)
    ) -> None:
        self.quiet_s, self.rearm_s = float(quiet_s), float(rearm_s)
        self.exempt = frozenset(exempt)
        self.fired_at: dict[str, float] = {}
        self.held: dict[str, AlertTransition] = {}
        #: series -> (its published alerts in force, when the last one resolved)
        self.calm: dict[str, tuple[int, float]] = {}

    def _open(self, series: str, t: float) -> bool:
        if t - self.fired_at.get(series, -math.inf) >= self.quiet_s:
            return True
        active, since = self.calm.get(series, (0, -math.inf))
        return active == 0 and t - since >= self.rearm_s

    def _publish(self, a: AlertTransition) -> AlertTransition:
        active, since = self.calm.get(a.series, (0, -math.inf))
        if a.state == "firing":
            self.fired_at[a.series] = a.ts
            self.calm[a.series] = (active + 1, since)
        else:
            self.calm[a.series] = (max(active - 1, 0), a.ts)
        return a

    def admit(self, t: float, alerts: Iterable[AlertTransition]) -> list[AlertTransition]:
        """The transitions of interval end ``t`` to publish, in order, then the held
        firings whose series' quiet period is over at ``t``."""
        out: list[AlertTransition] = []
        for a in alerts:
            if a.detector in self.exempt:
                out.append(a)
            elif a.state != "firing":
                if self.held.pop(a.key, None) is None:
                    out.append(self._publish(a))
            elif self._open(a.series, a.ts):
                out.append(self._publish(a))
            else:
                self.held[a.key] = a
        for key, a in list(self.held.items()):
            if self._open(a.series, t):
                del self.held[key]
                out.append(self._publish(replace(a, ts=t)))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "fired_at": self.fired_at,
            "held": {k: a.as_dict() for k, a in self.held.items()},
            "calm": {k: [n, None if math.isinf(s) else s] for k, (n, s) in self.calm.items()},
        }

    def restore(self, d: dict[str, Any]) -> None:
        self.fired_at = {k: float(v) for k, v in d["fired_at"].items()}
        self.held = {k: AlertTransition.from_dict(v) for k, v in d["held"].items()}
        self.calm = {
            k: (int(n), -math.inf if s is None else float(s)) for k, (n, s) in d["calm"].items()
        }
