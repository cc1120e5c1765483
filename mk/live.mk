# Live updates (bench/live_latency.py): POST (and MQTT publish, with mosquitto installed) to the
# Server-Sent Event on another replica, p50/p99 over 1,000 events, and the notify's cost on
# ingest; writes bench/results/live-<stamp>.{json,md}. Options, e.g.
#   make bench-live BENCH_LIVE_ARGS="--events 200 --no-mqtt"
# Adds: target bench-live.
.PHONY: bench-live

bench-live: $(VENV)/.synced ## live updates: commit-to-SSE latency p50/p99, notify cost (bench/results/live-*)
	$(BIN)/python -m bench.live_latency $(BENCH_LIVE_ARGS)
