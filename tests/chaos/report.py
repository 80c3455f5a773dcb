"""The chaos suite's table: each scenario's result and figures of the last run, as
markdown, written into docs/RELIABILITY.md between its table markers.

``python -m tests.chaos.report`` (run by ``make chaos`` after the scenarios) rewrites
the table from the results the scenarios recorded (one entry per scenario, so running
one scenario updates its row only).

>>> print(render({"huge_line": {"result": "passed", "wall_s": 80, "why": "",
...                             "figures": {"alerts": 41, "records": 855254}}})
...       .splitlines()[2])
| huge_line | a 1 MB line in the 153,000-line inventory file | alerts = backtest; \
feed topics = file (the line a bounded dead letter); gauges = one undisturbed worker | \
passed | alerts 41, records 855,254 | 80 s |
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from tests.chaos.scenarios import SCENARIOS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RESULTS = PROJECT_ROOT / ".cache" / "chaos" / "last-run.json"
"""Where the scenarios record their results (outside the repository's tracked files)."""
DOC = PROJECT_ROOT / "docs" / "RELIABILITY.md"
BEGIN, END = "<!-- chaos-table -->", "<!-- /chaos-table -->"


def record_result(path: Path, name: str, result: str, why: str, wall_s: int,
                  figures: dict[str, Any]) -> None:
    """Store one scenario's outcome (replacing its previous one)."""
    results = json.loads(path.read_text()) if path.is_file() else {}
    results[name] = {"result": result, "why": why, "wall_s": wall_s, "figures": figures,
                     "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


def _figure(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def render(results: dict[str, Any]) -> str:
    """The markdown table: every scenario of :data:`SCENARIOS`, in order, with its last
    result (``not run`` when it has none) and figures; then the undisturbed reference."""
    lines = ["| scenario | disruption | compared | result | figures | wall time |",
             "|---|---|---|---|---|---|"]
    for s in SCENARIOS:
        got = results.get(s.name)
        if s.test is None:
            result, figs, wall = "not in this suite", "", ""
        elif got is None:
            result, figs, wall = "not run", "", ""
        else:
            result = got["result"] + (f": {got['why']}" if got.get("why") else "")
            figs = ", ".join(f"{k.replace('_', ' ')} {_figure(v)}"
                             for k, v in got["figures"].items())
            wall = f"{got['wall_s']} s"
        result = result.replace("|", "\\|")
        lines.append(f"| {s.name} | {s.disruption} | {s.compared} | {result} | {figs} | "
                     f"{wall} |")
    ref = results.get("undisturbed")
    if ref is not None:
        figs = ", ".join(f"{k.replace('_', ' ')} {_figure(v)}" for k, v in ref["figures"].items())
        lines += ["", f"Undisturbed reference run ({ref['at']}): {figs}; {ref['wall_s']} s."]
    return "\n".join(lines)


def update(doc: Path, results: dict[str, Any]) -> str:
    """``doc``'s text with the table between the markers replaced by :func:`render`'s."""
    text = doc.read_text()
    head, rest = text.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{render(results)}\n{END}{tail}"


def main(argv: list[str]) -> int:
    results_path = Path(argv[0]) if argv else RESULTS
    doc = Path(argv[1]) if len(argv) > 1 else DOC
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    doc.write_text(update(doc, results))
    done = [n for n, r in results.items() if n != "undisturbed"]
    passed = sum(results[n]["result"] == "passed" for n in done)
    print(f"{doc.name}: {passed} of {len(done)} scenarios run passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
