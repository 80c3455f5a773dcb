#!/usr/bin/env bash
# The chaos suite (tests/chaos) on the test stack, then its table in docs/RELIABILITY.md.
# The stack fixture starts the test stack (tests/integration/stack.env, or the file
# BERTHWATCH_TEST_STACK_ENV names) and stops it at the end; the trap makes sure of it.
# Arguments go to pytest: `make chaos ARGS="-k broker"`.
set -euo pipefail
cd "$(dirname "$0")/../.."
stack_env="${BERTHWATCH_TEST_STACK_ENV:-tests/integration/stack.env}"

cleanup() {
  set -a; . "$stack_env"; set +a
  .venv/bin/berthwatch stack down >/dev/null 2>&1 || true
}
trap cleanup EXIT

status=0
.venv/bin/pytest -m chaos tests/chaos -p no:cacheprovider --durations=0 "$@" || status=$?
.venv/bin/python -m tests.chaos.report
exit "$status"
