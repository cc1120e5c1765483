# The benchmark (bench/): `make bench` runs the full suite (~15 min on 2 cores) and writes
# bench/results/<stamp>.{json,md} and latest.{json,md}; BENCH_ARGS passes options, e.g.
#   make bench BENCH_ARGS="--sizes 1000000,5000000 --duration 5 --workers 2"
#   make bench BENCH_ARGS="--only buckets --sizes 20000000"   (the bucket reads of issue 16 only)
# The service runs as shipped (auth on, access log to a file); the .md's target table is issue
# 19's. Two runs' targets side by side: .venv/bin/python -m bench.report --compare A.json B.json
# `make bench-compare` runs the benchmark of another revision (BEFORE, default the last commit
# before sensors) and of this checkout in one invocation and compares them (bench/compare.py);
# `make bench-ab` times the read statements of both A/B interleaved on one server (bench/ab_sql.py).
# Adds: targets bench, bench-quick, bench-compare, bench-ab; LINT_PREREQS (lint-bench: ruff + mypy --strict on bench/).
.PHONY: bench bench-quick bench-compare bench-ab

bench: $(VENV)/.synced ## benchmark against a durable local PostgreSQL; results in bench/results/
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-compare: $(VENV)/.synced ## benchmark BEFORE (a git revision) and this checkout, one run; compared
	$(BIN)/python -m bench.compare $(if $(BEFORE),--before $(BEFORE)) $(BENCH_ARGS)

bench-ab: $(VENV)/.synced ## the read statements before/after sensors, A/B interleaved on the same data
	$(BIN)/python -m bench.ab_sql $(BENCH_ARGS)

bench-quick: $(VENV)/.synced ## smoke run of the benchmark (tiny sizes; numbers mean nothing)
	$(BIN)/python -m bench.run --quick --out .cache/bench-quick

LINT_PREREQS += lint-bench
.PHONY: lint-bench
lint-bench: $(VENV)/.synced
	$(BIN)/ruff check bench
	$(BIN)/ruff format --check bench
	$(BIN)/mypy bench
