"""The writers' side: one notify per transaction that changed captures, delivered at commit,
never for a rolled-back or rejected write; payloads stay under PostgreSQL's 8,000 bytes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.capture import service as capture_service
from roomtemp.capture.schemas import CaptureIn
from roomtemp.live import payload
from tests.conftest import NOW, ClientFactory
from tests.factories import capture
from tests.threads import run_async

TS = NOW - timedelta(minutes=5)


@pytest.fixture
def listening(db: psycopg.Connection[Any], conninfo: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"LISTEN {payload.CHANNEL}")
        yield conn


def _heard(conn: psycopg.Connection[Any], wait: float = 0.5) -> list[dict[str, Any]]:
    return [orjson.loads(n.payload) for n in conn.notifies(timeout=wait)]


def test_one_notify_per_write_with_the_stored_values(
    client: TestClient, listening: psycopg.Connection[Any]
) -> None:
    body = [capture(20.0, room="r1", ts=TS), capture(21.0, room="r2", ts=TS)]
    assert client.post("/v1/captures", json=body).status_code == 201
    (note,) = _heard(listening)
    assert note["rooms"] == sorted(note["rooms"])
    assert len(note["rooms"]) == 2
    assert sorted(c[3] for c in note["captures"]) == [293.15, 294.15]
    ts_us = (TS - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert {c[2] for c in note["captures"]} == {ts_us}
    # The same again changes nothing: no notify. A new value: a later number.
    assert client.post("/v1/captures", json=body).status_code == 201
    assert _heard(listening) == []
    assert client.post("/v1/captures", json=capture(22.0, room="r1", ts=TS)).status_code == 201
    (again,) = _heard(listening)
    assert again["seq"] > note["seq"]
    assert again["captures"][0][3] == pytest.approx(295.15)


def test_a_rejected_batch_announces_nothing(
    client: TestClient, listening: psycopg.Connection[Any]
) -> None:
    body = [capture(20.0, room="r1", ts=TS), capture("warm", room="r1", ts=TS)]
    assert client.post("/v1/captures", json=body).status_code == 422
    assert _heard(listening) == []


def test_the_notify_of_a_rolled_back_transaction_is_never_delivered(
    database_url: str, listening: psycopg.Connection[Any]
) -> None:
    item = CaptureIn.model_validate(capture(20.0, room="r1", ts=TS))
    policy = capture_service.IngestPolicy(
        auto_register=True, max_batch_size=10, max_future_skew=timedelta(minutes=5)
    )

    async def write(commit: bool) -> None:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                trans = await conn.begin()
                await capture_service.ingest(
                    conn, capture_service.ParsedBatch([item]), policy=policy, now=NOW
                )
                # The notify was sent inside the transaction: only the commit delivers it.
                await (trans.commit() if commit else trans.rollback())
        finally:
            await engine.dispose()

    run_async(write(commit=False))
    assert _heard(listening) == []
    run_async(write(commit=True))
    (note,) = _heard(listening)
    assert len(note["captures"]) == 1


def test_big_batches_announce_rooms_in_payloads_postgresql_accepts(
    client_factory: ClientFactory, listening: psycopg.Connection[Any]
) -> None:
    client = client_factory(max_batch_size=20_000)
    body = [
        capture(20.0 + n % 7, room=f"r{n % 3000}", ts=TS - timedelta(seconds=n))
        for n in range(10_000)
    ]
    r = client.post("/v1/captures", json=body)
    assert r.status_code == 201, r.text
    notes = _heard(listening, wait=2)
    assert len(notes) >= 2  # 3,000 room ids do not fit in one payload
    assert all(n["changed"] is True and "captures" not in n for n in notes)
    assert sorted(r for n in notes for r in n["rooms"]) == list(range(1, 3001))
    assert len({n["seq"] for n in notes}) == len(notes)


def test_bodies_fit_or_fall_back_to_room_markers() -> None:
    keys = [(1, 1, TS + timedelta(seconds=n), 293.15) for n in range(100)]
    (one,) = payload.bodies(keys)
    assert len(one) <= payload.MAX_PAYLOAD
    parsed = payload.parse('{"seq":7,' + one)
    assert parsed.seq == 7
    assert parsed.captures is not None
    assert parsed.captures[0] == keys[0]
    many = [(n, 1, TS, 1.0) for n in range(1, 3000)]
    bodies = payload.bodies(many)
    assert len(bodies) > 1
    assert all(len('{"seq":9223372036854775807,' + b) < 8000 for b in bodies)
    assert payload.parse('{"seq":1,' + bodies[0]).captures is None
