#!/usr/bin/env bash
# The whole test suite: lint, types, unit and integration tests on the real stack.
# The integration fixtures start the test stack (its own ports and folder, see
# tests/integration/stack.env) and stop it at the end; the trap makes sure of it.
set -euo pipefail
cd "$(dirname "$0")/../.."

cleanup() {
  set -a; . tests/integration/stack.env; set +a
  .venv/bin/berthwatch stack down >/dev/null 2>&1 || true
}
trap cleanup EXIT

.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/pytest -m "unit or integration" --durations=15 "$@"
