"""Statements run on the psycopg connection directly (db/driver.py) behave like the others."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient

from tests.factories import capture

AVERAGE = "/v1/buildings/hq/rooms/3.14/average"


def test_a_killed_connection_leaves_the_pool(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    assert client.post("/v1/captures", json=capture(21.5)).status_code == 201
    assert client.get(AVERAGE).status_code == 200
    killed = db.execute(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'roomtemp' AND pid <> pg_backend_pid()) AS k"
    ).fetchone()
    assert killed is not None
    assert killed[0] >= 1
    # The request that meets the dead connection gets a clean 503; the pool drops it, so the
    # next requests get a fresh connection instead of the same dead one.
    first = client.get(AVERAGE)
    assert first.status_code in (200, 503), first.text
    if first.status_code == 503:
        assert first.json()["error"]["code"] == "database_unavailable"
    for _ in range(3):
        r = client.get(AVERAGE)
        assert r.status_code == 200, r.text
        assert r.json()["count"] == 1
