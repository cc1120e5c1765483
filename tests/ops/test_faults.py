"""Faults under load against the real server process and real PostgreSQL: client retries after
timeouts, a database restart, SIGTERM. Nothing acknowledged (201) may be lost or doubled.

OPS_LOAD_SECONDS scales the load phases (`make fault-test` runs them longer).
"""

from __future__ import annotations

import math
import os
import random
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import psycopg
import pytest

from roomtemp.db import migrate
from roomtemp.embedded import EmbeddedPostgres
from tests.ops.counts import COUNTS
from tests.ops.load import Load, missing_captures, unique_captures
from tests.ops.server import LiveServer, free_port, issue_token, live_server
from tests.postgres_provider import libpq_conninfo, sqlalchemy_url

LOAD_SECONDS = float(os.environ.get("OPS_LOAD_SECONDS", "2"))


def test_retried_captures_are_stored_exactly_once(
    server: LiveServer, database_url: str, conninfo: str, db: psycopg.Connection[Any]
) -> None:
    token = issue_token(database_url, "retrier", "ingest", "read")
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(7)
    payloads: list[Any] = [unique_captures(rng.randint(1, 300), room="retry") for _ in range(12)]
    payloads += [unique_captures(1, room="retry")[0] for _ in range(20)]  # single objects
    sent = [c for p in payloads for c in (p if isinstance(p, list) else [p])]
    timeouts = 0
    with httpx.Client(headers=headers) as client:
        for payload in payloads:
            # First tries with a timeout far too short (the server may or may not have
            # committed when the client gives up), then retried until acknowledged.
            for attempt in range(50):
                timeout = 0.002 * (attempt + 1) if attempt < 3 else 30.0
                try:
                    r = client.post(f"{server.url}/v1/captures", json=payload, timeout=timeout)
                except httpx.TimeoutException:
                    timeouts += 1
                    continue
                assert r.status_code == 201, r.text
                break
            else:
                pytest.fail("never acknowledged")
        # And one more full re-send of everything, as a gateway replaying its buffer would.
        for payload in payloads:
            r = client.post(f"{server.url}/v1/captures", json=payload, timeout=30)
            assert r.status_code == 201
            assert r.json()["inserted"] == 0
        COUNTS["faults_injected"] += timeouts
        assert timeouts > 0

        rows = db.execute(
            "SELECT count(*), count(DISTINCT ts) FROM capture c JOIN room r ON r.id = c.room_id "
            "WHERE r.key = 'retry'"
        ).fetchone()
        assert rows == (len(sent), len(sent))
        assert missing_captures(conninfo, sent) == []
        COUNTS["captures_checked"] += len(sent)

        # The average over everything sent equals the reference computed here.
        last = max(datetime.fromisoformat(c["ts"]) for c in sent)
        avg = client.get(
            f"{server.url}/v1/buildings/load/rooms/retry/average",
            params={"at": (last + timedelta(seconds=1)).isoformat(), "window": "1h"},
        ).json()
        assert avg["count"] == len(sent)
        assert math.isclose(avg["mean"], sum(c["value"] for c in sent) / len(sent), rel_tol=1e-12)


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
