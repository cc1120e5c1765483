"""Faults under load against the real server process and real PostgreSQL: a database restart
and SIGTERM. Nothing acknowledged (201) may be lost. Run by `make fault-test` (each starts its own
server and, for the restart, its own PostgreSQL; OPS_LOAD_SECONDS scales the load phases).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from roomtemp.db import migrate
from roomtemp.embedded import EmbeddedPostgres
from tests.ops.counts import COUNTS
from tests.ops.load import Load, missing_captures
from tests.ops.server import free_port, issue_token, live_server
from tests.postgres_provider import libpq_conninfo, sqlalchemy_url

LOAD_SECONDS = float(os.environ.get("OPS_LOAD_SECONDS", "2"))


@pytest.fixture
def own_postgres() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL of our own on a fixed port, so it can be stopped and started again."""
    base = Path(tempfile.mkdtemp(prefix="roomtemp-fault-pg-"))
    base.chmod(0o711)
    server = EmbeddedPostgres(
        base / "data",
        port=free_port(),
        database="roomtemp_fault",
        server_settings={"fsync": "off", "synchronous_commit": "on"},
    )
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_database_restart_under_load_fails_fast_and_recovers(
    own_postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    url = own_postgres.start()
    migrate.upgrade(url)
    conninfo = libpq_conninfo(sqlalchemy_url(url))
    token = issue_token(url, "load", "ingest")
    # Worst case for a request while the database is down: pool wait + connect timeout.
    limit = 2 + 2 + 5  # DB_POOL_TIMEOUT_SECONDS + DB_CONNECT_TIMEOUT_SECONDS + scheduling slack
    with live_server(url, tmp_path) as server:
        load = Load(server.url, token, threads=4, batch=5).start()
        try:
            time.sleep(LOAD_SECONDS)
            own_postgres.stop()
            COUNTS["faults_injected"] += 1
            down_at = time.monotonic()
            time.sleep(max(3.0, LOAD_SECONDS))
            up_at = time.monotonic()
            own_postgres.start()
            # Recovers without a restart of the service: 201s again within a bounded time.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if any(o.status == 201 and o.started > up_at for o in list(load.outcomes)):
                    break
                time.sleep(0.2)
            time.sleep(LOAD_SECONDS)
        finally:
            load.stop()
        assert server.proc.poll() is None  # never restarted
    outcomes = load.outcomes
    statuses = {o.status for o in outcomes}
    assert statuses <= {201, 503}, statuses
    during = [o for o in outcomes if down_at + 0.5 < o.started < up_at - 0.5]
    assert during
    assert all(o.status == 503 for o in during)
    slowest = max(o.finished - o.started for o in during)
    assert slowest < limit, f"a request hung {slowest:.1f}s while the database was down"
    assert any(o.status == 201 and o.started > up_at for o in outcomes), "did not recover"
    COUNTS["responses_5xx"] += sum(
        1 for o in outcomes if o.status and o.status >= 500 and o.status != 503
    )
    acknowledged = load.acknowledged()
    assert missing_captures(conninfo, acknowledged) == []
    COUNTS["captures_checked"] += len(acknowledged)


def test_sigterm_under_load_drains_in_flight_and_loses_nothing(
    database_url: str, conninfo: str, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    grace = 10
    token = issue_token(database_url, "load", "ingest")
    with live_server(database_url, tmp_path, GRACEFUL_SHUTDOWN_SECONDS=str(grace)) as server:
        load = Load(server.url, token, threads=6, batch=2000).start()
        time.sleep(LOAD_SECONDS)
        term_at = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        COUNTS["faults_injected"] += 1
        server.proc.wait(timeout=grace + 30)
        exited = time.monotonic() - term_at
        load.stop()
    assert exited < grace + 5, f"exit took {exited:.1f}s (grace {grace}s)"
    outcomes = load.outcomes
    # Everything that got an answer got a 201; nothing came back as a server error.
    assert {o.status for o in outcomes if o.status is not None} == {201}
    # Requests well inside the server before SIGTERM were completed, not cut off.
    in_flight = [o for o in outcomes if o.started < term_at - 0.1 and o.finished > term_at]
    assert in_flight
    assert all(o.status == 201 for o in in_flight), [o.error for o in in_flight]
    # New connections after the shutdown began are refused.
    late = [o for o in outcomes if o.started > term_at + 1]
    assert all(o.status is None for o in late)
    acknowledged = load.acknowledged()
    assert acknowledged
    assert missing_captures(conninfo, acknowledged) == []
    COUNTS["captures_checked"] += len(acknowledged)
