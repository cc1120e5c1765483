# The benchmark (bench/): `make bench` runs the full suite (~15 min on 2 cores) and writes
# bench/results/<stamp>.{json,md} and latest.{json,md}; BENCH_ARGS passes options, e.g.
#   make bench BENCH_ARGS="--sizes 1000000,5000000 --duration 5 --workers 2"
# Adds: targets bench, bench-quick; LINT_PREREQS (lint-bench: ruff + mypy --strict on bench/).
.PHONY: bench bench-quick

bench: $(VENV)/.synced ## benchmark against a durable local PostgreSQL; results in bench/results/
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-quick: $(VENV)/.synced ## smoke run of the benchmark (tiny sizes; numbers mean nothing)
	$(BIN)/python -m bench.run --quick --out .cache/bench-quick

LINT_PREREQS += lint-bench
.PHONY: lint-bench
lint-bench: $(VENV)/.synced
	$(BIN)/ruff check bench
	$(BIN)/ruff format --check bench
	$(BIN)/mypy bench
