"""Read/write split against a real streaming replica: reads see the standby, writes the primary.

The standby's WAL replay is paused to stand in for replication lag: a capture written then is
201 (durable on the primary) but invisible to reads until replay resumes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from roomtemp.app import create_app
from roomtemp.clock import fixed_clock
from roomtemp.db import migrate
from roomtemp.db.engine import create_read_engine
from tests.conftest import NOW, make_settings
from tests.factories import capture
from tests.system.scale.replica import ReplicatedPair, conninfo, replicated_pair
from tests.threads import run_async

log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def pair() -> Iterator[ReplicatedPair]:
    with replicated_pair() as p:
        migrate.upgrade(p.primary_url)
        p.wait_replayed()
        yield p


@contextlib.contextmanager
def api(pair: ReplicatedPair, **overrides: Any) -> Iterator[TestClient]:
    overrides = {
        "database_url": pair.primary_url,
        "database_read_url": pair.standby_url,
        "db_connect_timeout_seconds": 2,
        "auth_required": False,  # tokens have their own tests (tests/auth)
        **overrides,
    }
    settings = make_settings(**overrides)
    with TestClient(
        create_app(settings, clock=fixed_clock(NOW)), raise_server_exceptions=False
    ) as client:
        yield client


def average_count(client: TestClient, building: str, room: str = "r1") -> Any:
    r = client.get(f"/v1/buildings/{building}/rooms/{room}/average")
    assert r.status_code == 200, r.text
    return r.json()["count"]


def post(client: TestClient, building: str, minute: int) -> None:
    ts = f"2026-11-22T11:{minute:02d}:00Z"
    r = client.post("/v1/captures", json=capture(20.0, building=building, room="r1", ts=ts))
    assert r.status_code == 201, r.text


def primary_count(pair: ReplicatedPair, building: str) -> int:
    with psycopg.connect(conninfo(pair.primary_url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM capture JOIN room ON room.id = capture.room_id "
            "JOIN building ON building.id = room.building_id WHERE building.key = %s",
            (building,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_reads_come_from_the_standby(pair: ReplicatedPair) -> None:
    with api(pair) as client:
        assert client.get("/readyz").json() == {
            "status": "ready",
            "database": "ok",
            "read_database": "ok",
        }
        post(client, "lagged", 50)
        lag = pair.wait_replayed()
        log.info("standby replayed the write %.1f ms after the 201", lag * 1000)
        assert average_count(client, "lagged") == 1

        pair.set_replay_paused(True)
        try:
            post(client, "lagged", 51)
            r = client.put("/v1/buildings/annex", json={"name": "Annex"})
            assert r.status_code == 201
            # Durable on the primary, not yet visible through the API's reads.
            assert primary_count(pair, "lagged") == 2
            assert average_count(client, "lagged") == 1
            assert client.get("/v1/buildings/annex").status_code == 404
        finally:
            pair.set_replay_paused(False)
        pair.wait_replayed()
        assert average_count(client, "lagged") == 2
        assert client.get("/v1/buildings/annex").json()["name"] == "Annex"


def test_read_connections_are_read_only(pair: ReplicatedPair) -> None:
    # Even pointed at a primary, the read engine refuses writes (default_transaction_read_only).
    with api(pair, database_read_url=pair.primary_url) as client:
        post(client, "readonly", 50)
        assert average_count(client, "readonly") == 1
        assert client.get("/readyz").status_code == 200

    async def try_write() -> None:
        engine = create_read_engine(make_settings(), pair.primary_url)
        try:
            async with engine.begin() as conn:
                await conn.exec_driver_sql("CREATE TABLE must_not_exist (x int)")
        finally:
            await engine.dispose()

    with pytest.raises(sa_exc.DBAPIError) as failure:
        run_async(try_write())
    assert isinstance(failure.value.orig, psycopg.errors.ReadOnlySqlTransaction)


def test_standby_down_reads_fail_clearly_writes_are_kept(pair: ReplicatedPair) -> None:
    with api(pair) as strict, api(pair, db_read_fallback=True) as fallback:
        post(strict, "outage", 46)
        pair.wait_replayed()
        assert average_count(strict, "outage") == 1
        pair.stop_standby()
        try:
            r = strict.get("/v1/buildings/outage/rooms/r1/average")
            assert r.status_code == 503
            assert r.json()["error"]["code"] == "read_database_unavailable"
            assert str(make_url(pair.standby_url).password) not in r.text
            assert strict.get("/v1/buildings/outage").status_code == 503
            ready = strict.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["read_database"].startswith("unreachable")

            # Writes go to the primary and are acknowledged only once committed there.
            post(strict, "outage", 47)
            post(fallback, "outage", 48)
            assert primary_count(pair, "outage") == 3

            # With DB_READ_FALLBACK the same reads come from the primary, and the pod stays ready.
            assert average_count(fallback, "outage") == 3
            ready = fallback.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert "reading from the primary" in ready.json()["read_database"]
        finally:
            pair.start_standby()
        # The standby catches up on its own: nothing written during the outage is lost.
        pair.wait_replayed()
        assert average_count(strict, "outage") == 3
        assert strict.get("/readyz").status_code == 200
        assert average_count(fallback, "outage") == 3
