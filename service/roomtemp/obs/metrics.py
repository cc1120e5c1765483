"""Prometheus metrics: one Metrics object per app, multiprocess-safe when workers > 1.

With PROMETHEUS_MULTIPROC_DIR set (`roomtemp serve` sets it for WORKERS > 1), prometheus-client
writes every value to per-process files there and /metrics aggregates all workers' files; gauges
use `livesum` so a worker's share disappears when it exits.
"""

from __future__ import annotations

import functools
import os
import re
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
NAMESPACE = "roomtemp"

# Latency buckets in seconds: ingest is ~ms, averages tens of ms, timeouts seconds.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_BATCH_BUCKETS = (1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000)

# "SELECT … FROM capture …" → "select capture": a bounded label for unnamed statements.
_WRITE = re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?([a-z_][a-z0-9_]*)", re.I)
_FROM = re.compile(r"\bFROM\s+\"?([a-z_][a-z0-9_]*)", re.I)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


@functools.lru_cache(maxsize=512)
def statement_name(statement: str) -> str:
    """A low-cardinality name for a SQL statement: verb and first table ("select capture")."""
    write = _WRITE.search(statement)
    if write is not None:
        return f"{write.group(0).split()[0].lower()} {write.group(1)}"
    table = _FROM.search(statement)
    return f"select {table.group(1) if table else '-'}"


class Metrics:
    """All of the service's metrics, registered on a registry of their own."""

    def __init__(self, *, version: str, git_sha: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # One factory per kind of metric: every metric lives in this registry and namespace, every
        # gauge is summed over live workers, every latency uses the same buckets.
        counter = functools.partial(Counter, namespace=NAMESPACE, registry=self.registry)
        gauge = functools.partial(
            Gauge, namespace=NAMESPACE, registry=self.registry, multiprocess_mode="livesum"
        )
        histogram = functools.partial(Histogram, namespace=NAMESPACE, registry=self.registry)
        self.http_requests = counter(
            "http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
        )
        self.http_duration = histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route template and status",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS,
        )
        self.http_in_progress = gauge("http_requests_in_progress", "HTTP requests being served")
        self.captures = counter(
            "captures", "Captures accepted, by outcome (inserted, duplicate, updated)", ["outcome"]
        )
        self.captures_rejected = counter(
            "captures_rejected", "Captures rejected, by reason (the error detail code)", ["reason"]
        )
        self.unknown_sensor_captures = counter(
            "unknown_sensor_captures",
            "Captures refused because their sensor key is not registered (or retired)",
        )
        self.batch_size = histogram(
            "capture_batch_size_captures",
            "Captures per POST /v1/captures request",
            buckets=_BATCH_BUCKETS,
        )
        self.db_pool_in_use = gauge(
            "db_pool_connections_in_use", "Database connections checked out of the pool"
        )
        self.db_pool_max = gauge(
            "db_pool_connections_max", "Pool size plus overflow: connections the pool may open"
        )
        self.db_pool_waiting = gauge(
            "db_pool_waiting_requests",
            "Requests waiting for a pool connection (checkout started, not yet done)",
        )
        self.db_pool_timeouts = counter(
            "db_pool_timeouts", "Requests that gave up waiting for a pool connection"
        )
        self.db_query_duration = histogram(
            "db_query_duration_seconds",
            "Database statement latency by query name",
            ["query"],
            buckets=_LATENCY_BUCKETS,
        )
        self.db_unavailable = counter(
            "db_unavailable_responses", "Requests answered 503 because the database was down"
        )
        self.request_deadlines = counter(
            "request_deadline_exceeded",
            "Requests answered 503 because the database did not answer within the request "
            "deadline (REQUEST_TIMEOUT_*_SECONDS, READYZ_TIMEOUT_SECONDS), by kind",
            ["kind"],
        )
        self.db_statement_timeouts = counter(
            "db_statement_timeouts",
            "Reads PostgreSQL stopped at their statement_timeout (SQLSTATE 57014), answered "
            "422 query_too_expensive: the request's shape, not an outage",
        )
        self.rate_limited = counter(
            "rate_limited_requests", "Requests refused with 429, by scope", ["scope"]
        )
        self.auth_failures = counter(
            "auth_failures",
            "Requests refused by authentication or authorization, by reason",
            ["reason"],
        )
        self.auth_throttled = counter(
            "auth_throttled_requests",
            "Requests refused with 429 because their client address failed authentication "
            "too often",
        )
        self.live_streams = gauge("live_streams", "Open live (Server-Sent Events) streams")
        self.live_streams_refused = counter(
            "live_streams_refused",
            "Live streams refused with 503, by reason (too_many_streams: LIVE_MAX_STREAMS; "
            "live_unavailable: the LISTEN connection is down)",
            ["reason"],
        )
        self.live_streams_dropped = counter(
            "live_streams_dropped",
            "Live streams the server ended, by reason (slow: LIVE_QUEUE_ROUNDS unread updates)",
            ["reason"],
        )
        self.live_rounds = histogram(
            "live_round_duration_seconds",
            "Fan-out rounds of live updates: recomputing the affected rooms and queueing events",
            buckets=_LATENCY_BUCKETS,
        )
        # Every worker computes the same counts from the database: the most recent one is the
        # value (summing would multiply it by the number of workers). One series per building.
        self.silent_sensors = gauge(
            "silent_sensors",
            "Registered sensors without a capture for longer than SILENT_SENSOR_MINUTES, by "
            "building of their current room (refreshed every SILENT_SENSOR_REFRESH_SECONDS)",
            ["building"],
            multiprocess_mode="livemostrecent",
        )
        self.build_info = Gauge(
            "build_info",
            "Always 1; labels carry the version and git commit",
            ["version", "git_sha"],
            namespace=NAMESPACE,
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.build_info.labels(version=version, git_sha=git_sha).set(1)

    def observe_ingest(self, inserted: int, duplicates: int, updated: int) -> None:
        self.batch_size.observe(inserted + duplicates + updated)
        for outcome, n in (("inserted", inserted), ("duplicate", duplicates), ("updated", updated)):
            if n:
                self.captures.labels(outcome=outcome).inc(n)

    def observe_rejected(self, batch_size: int, reasons: list[str]) -> None:
        self.batch_size.observe(batch_size)
        for reason in reasons:
            self.captures_rejected.labels(reason=reason).inc()

    def instrument_engine(self, engine: AsyncEngine, observer_key: str) -> None:
        """Pool usage from pool events, statement latency from cursor events (per engine; the
        pool gauges add up over the worker's engines). Statements run on the raw connection
        (db.driver) report through the callable left in each connection's info[observer_key]."""
        sync_engine: Engine = engine.sync_engine
        pool = sync_engine.pool
        in_use = self.db_pool_in_use
        waiting = self.db_pool_waiting
        query_duration = self.db_query_duration

        # Pool.connect() is where a checkout waits for a free connection (or opens one).
        original_connect = pool.connect

        def connect() -> Any:
            waiting.inc()
            try:
                return original_connect()
            finally:
                waiting.dec()

        pool.connect = connect  # type: ignore[method-assign]

        @event.listens_for(pool, "checkout")
        def _checkout(*_: Any) -> None:
            in_use.inc()

        @event.listens_for(pool, "checkin")
        def _checkin(*_: Any) -> None:
            in_use.dec()

        def observe(name: str, seconds: float) -> None:
            query_duration.labels(query=name).observe(seconds)

        @event.listens_for(pool, "connect")
        def _connect(_dbapi: Any, record: Any) -> None:
            record.info[observer_key] = observe

        @event.listens_for(sync_engine, "before_cursor_execute")
        def _before(_c: Any, _cur: Any, _s: Any, _p: Any, context: Any, _e: Any) -> None:
            context._roomtemp_started = time.perf_counter()

        @event.listens_for(sync_engine, "after_cursor_execute")
        def _after(_c: Any, _cur: Any, statement: str, _p: Any, context: Any, _e: Any) -> None:
            started = getattr(context, "_roomtemp_started", None)
            if started is None:
                return
            name = context.execution_options.get("query_name") or statement_name(statement)
            query_duration.labels(query=name).observe(time.perf_counter() - started)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition: all workers' values in multiprocess mode, else this registry."""
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """Drop a finished worker's live gauges (multiprocess mode only)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
