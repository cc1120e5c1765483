# Import speed (bench/import_speed.py): binary COPY through a staging table against the API's
# one-statement upsert, per chunk size; writes bench/results/import-<stamp>.json. Options, e.g.
#   make bench-import BENCH_IMPORT_ARGS="--rows 50000 --chunks 10000,50000"
# Adds: target bench-import.
.PHONY: bench-import

bench-import: $(VENV)/.synced ## import speed: COPY + staging table vs one statement (bench/results/import-*.json)
	$(BIN)/python -m bench.import_speed $(BENCH_IMPORT_ARGS)
