"""``python -m dashboards [OUT_DIR]``: write every dashboard's JSON (default dashboards/json)."""

from __future__ import annotations

import sys
from pathlib import Path

from dashboards import JSON_DIR, generate


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else JSON_DIR
    for path in generate(out):
        print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
