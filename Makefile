# The two commands of the README: `make demo` and `make test`. Both run the set-up
# first (idempotent: it installs only what is missing), and so does `make chaos`, the
# chaos suite (docs/RELIABILITY.md).
.PHONY: setup demo test chaos bench stop

setup:
	@bash deploy/local/setup.sh

demo: setup
	@.venv/bin/berthwatch demo

test: setup
	@bash deploy/local/run-tests.sh

chaos: setup
	@bash deploy/local/run-chaos.sh $(ARGS)

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; .venv/bin/python $$b; done

stop:
	@.venv/bin/berthwatch stack down
