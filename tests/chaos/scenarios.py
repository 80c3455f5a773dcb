"""The chaos scenarios as the table in docs/RELIABILITY.md lists them: what each disturbs
and what it compares. The tests record their figures under these names; the reporter
(:mod:`tests.chaos.report`) joins the two."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    """One row of the table: the test's name, the disruption and the comparisons."""

    name: str
    disruption: str
    compared: str
    in_make_test: bool = False
    test: str | None = None
    """The test function (``pytest -m chaos -k NAME`` selects it); None: tested elsewhere."""


ALERTS = "alerts = backtest"
FEED = "feed topics = file"
GAUGES = "gauges = one undisturbed worker"

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("huge_line", "a 1 MB line in the 153,000-line inventory file",
             f"{ALERTS}; {FEED} (the line a bounded dead letter); {GAUGES}", True,
             "test_huge_line"),
    Scenario("am_refuses", "Alertmanager answers 400 to the first 3 posts",
             f"{ALERTS}; refused alerts counted, the rest delivered; {GAUGES} "
             "(alerts_firing less the refused)", True, "test_am_refuses"),
    Scenario("unknown_setting", "BERTHWATCH_SECURITY_PROTOCOLL set for replay and worker",
             f"one warning (naming the closest setting if one is close); {ALERTS}; {FEED}; "
             f"{GAUGES}", True,
             "test_unknown_setting"),
    Scenario("out_of_order", "rows shuffled within 1-hour windows, 20 rows re-sent 3 days late",
             f"{ALERTS} (of the shuffled files); {FEED}; the 20 counted late; {GAUGES}",
             False, "test_out_of_order"),
    Scenario("out_of_order_hours", "rows shuffled within 3-hour windows, 20 rows re-sent "
             "3 days late", f"{ALERTS} (of the shuffled files): a known limit, expected to "
             "fail", False, "test_out_of_order_hours"),
    Scenario("clock_skew", "two producers (disjoint halves by key), the second 20 s later "
             "and unpaced", f"{ALERTS} (whole feed); {FEED}; {GAUGES}", False,
             "test_clock_skew"),
    Scenario("slow_alertmanager", "Alertmanager behind a proxy that takes 5 s per request",
             f"{ALERTS}, on time; every alert reaches Alertmanager; {GAUGES}", False,
             "test_slow_alertmanager"),
    Scenario("rebalance_storm", "workers 1-2-1-3-1 during a paced replay, each leaving "
             "by kill -9", f"{ALERTS}; the last worker's gauges = one undisturbed worker's",
             False, "test_rebalance_storm"),
    Scenario("broker_bounce", "broker killed (kill -9) and restarted every 30 s during a "
             "replay --wait", f"worker keeps running, broker_up 0 then 1; {ALERTS}; {FEED}; "
             f"{GAUGES}", False, "test_broker_bounce"),
    Scenario("broker_outage", "broker killed (kill -9) for 60 s mid-replay (replay --wait)",
             f"worker keeps running, broker_up 0 then 1; {ALERTS}; {FEED}; {GAUGES}", False,
             "test_broker_outage"),
    Scenario("idle_partitions", "a feed partition without records (live mode)",
             "the others' intervals released after the idle timeout: "
             "tests/integration/test_idle.py (make test)"),
)
"""Every scenario of the issue, in the order of the table."""

BY_NAME = {s.name: s for s in SCENARIOS}
