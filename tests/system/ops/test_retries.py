"""Client retries after timeouts, against the real server and PostgreSQL: every capture ends
up stored exactly once and the averages are unchanged. (Database restart and SIGTERM under load:
tests/system/ops/fault_check.py, `make fault-test`.)"""

from __future__ import annotations

import math
import os
import random
from datetime import datetime, timedelta
from typing import Any

import httpx2 as httpx
import psycopg
import pytest

from tests.system.ops.counts import COUNTS
from tests.system.ops.load import missing_captures, unique_captures
from tests.system.ops.server import LiveServer, issue_token

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
        # Clients that gave up are not server errors (499 when the body was never read).
        server_errors = [
            line for line in server.log_lines()
            if '"logger":"roomtemp.access"' in line and '"status":5' in line
        ]  # fmt: skip
        COUNTS["responses_5xx"] += len(server_errors)
        assert server_errors == []

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
