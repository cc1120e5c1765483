"""Deletes under concurrent ingest: one thread ingests into the room (appends, late captures
inside the ranges being deleted, changed values) while another deletes ranges of it (all
sensors, or one). Afterwards every rollup level equals a recompute from the raw captures in
Python, the row count adds up, and the audit holds every deletion with its count."""

from __future__ import annotations

import asyncio
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from roomtemp.capture import service as ingest
from roomtemp.capture.schemas import CaptureIn, CaptureItem, SensorCaptureIn
from roomtemp.db.locks import ROOM_LOCK_CLASS
from roomtemp.deletion import service as deletion
from roomtemp.errors import NotFound
from tests.conftest import NOW
from tests.deletion.support import assert_rollups_match_raw
from tests.factories import capture

START = NOW - timedelta(hours=14)  # the seeded span crosses midnight (pieces of two days)
MINUTES = 8 * 60
SENSORS = ("s1", "s2", "s3", "s4")  # registered, in r1; plus r1's default sensor
_POLICY = ingest.IngestPolicy(
    auto_register=True, max_batch_size=10_000, max_future_skew=timedelta(minutes=5)
)


def _item(sensor: str | None, minute: float, value: float) -> CaptureItem:
    ts = (START + timedelta(minutes=minute)).isoformat()
    if sensor is None:
        return CaptureIn.model_validate(
            {"building": "hq", "room": "r1", "value": value, "unit": "celsius", "ts": ts}
        )
    return SensorCaptureIn.model_validate(
        {"sensor": sensor, "value": value, "unit": "celsius", "ts": ts}
    )


async def _ingest(engine: AsyncEngine, items: list[CaptureItem]) -> int:
    async with engine.begin() as conn:
        counts = await ingest.ingest(conn, ingest.ParsedBatch(items), policy=_POLICY, now=NOW)
    return counts.inserted


def _ingester(url: str, seed: int, rounds: int) -> int:
    """New minutes after the seeded span (appends), late captures at odd seconds inside it
    (where the deleter works) and changed values of stored minutes; how many rows it added."""
    rng = random.Random(seed)

    async def go() -> int:
        engine = create_async_engine(url)
        added = 0
        try:
            for n in range(rounds):
                items: list[CaptureItem] = []
                for sensor in (None, *SENSORS):
                    items.append(_item(sensor, MINUTES + n, 20 + rng.random() * 5))
                    items.append(_item(sensor, rng.uniform(0, MINUTES), 15 + rng.random() * 15))
                    items.append(_item(sensor, rng.randrange(MINUTES), 18 + rng.random() * 9))
                added += await _ingest(engine, items)
        finally:
            await engine.dispose()
        return added

    return asyncio.run(go())


def _deleter(url: str, seed: int, rounds: int) -> list[int]:
    rng = random.Random(seed)

    async def go() -> list[int]:
        engine = create_async_engine(url)
        deleted = []
        try:
            for _ in range(rounds):
                lo = START + timedelta(minutes=rng.uniform(0, MINUTES - 30))
                hi = lo + timedelta(minutes=rng.uniform(5, 150))
                sensor = rng.choice([None, None, "s1", "s3", "hq/r1/temperature"])
                async with engine.begin() as conn:
                    entry = await deletion.delete_captures(
                        conn, "hq", "r1", sensor, lo, hi, token=None, now=NOW
                    )
                deleted.append(entry.captures_deleted)
        finally:
            await engine.dispose()
        return deleted

    return asyncio.run(go())


def test_deletes_under_concurrent_ingest_keep_every_rollup_level_exact(
    client: TestClient, db: psycopg.Connection[Any], database_url: str
) -> None:
    for key in SENSORS:
        body = {"key": key, "sensor_type": "temperature", "building": "hq", "room": "r1"}
        assert client.post("/v1/sensors", json=body).status_code == 201

    async def seed() -> int:
        engine = create_async_engine(database_url)
        try:
            items = [
                _item(s, m, 19 + (m * 7 % 60) / 10)
                for s in (None, *SENSORS)
                for m in range(MINUTES)
            ]
            return await _ingest(engine, items)
        finally:
            await engine.dispose()

    seeded = asyncio.run(seed())
    assert seeded == 5 * MINUTES
    assert_rollups_match_raw(db)
    with ThreadPoolExecutor(max_workers=2) as pool:
        added = pool.submit(_ingester, database_url, 1, 60)
        deleted = pool.submit(_deleter, database_url, 2, 40)
        total_added, counts = added.result(), deleted.result()
    assert sum(counts) > 0
    stored = db.execute("SELECT count(*) FROM capture").fetchone()
    assert stored == (seeded + total_added - sum(counts),)
    assert_rollups_match_raw(db)
    audit = db.execute(
        "SELECT count(*), sum(captures_deleted) FROM deletion_audit WHERE kind = 'captures'"
    ).fetchone()
    assert audit == (40, sum(counts))


def test_two_identical_room_deletes_at_once_one_deletes_the_other_gets_404(
    client: TestClient, db: psycopg.Connection[Any], database_url: str, conninfo: str
) -> None:
    body = [
        capture(21.0, room="r1", ts=(START + timedelta(minutes=m)).isoformat()) for m in range(9)
    ]
    assert client.post("/v1/captures", json=body).status_code == 201
    room_id = db.execute("SELECT id FROM room WHERE key = 'r1'").fetchone()[0]  # type: ignore[index]

    def delete() -> str:
        async def go() -> str:
            engine = create_async_engine(database_url)
            try:
                async with engine.begin() as conn:
                    entry = await deletion.delete_room(
                        conn, "hq", "r1", "delete", token=None, now=NOW
                    )
                return f"deleted {entry.captures_deleted}"
            except NotFound:
                return "404"
            finally:
                await engine.dispose()

        return asyncio.run(go())

    with psycopg.connect(conninfo) as blocker:  # both requests queue behind the room's lock
        blocker.execute("SELECT pg_advisory_xact_lock(%s, %s)", (ROOM_LOCK_CLASS, room_id))
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = [pool.submit(delete) for _ in range(2)]
            time.sleep(1.0)
            blocker.commit()
            results = sorted(a.result(timeout=60) for a in answers)
    assert results == ["404", "deleted 9"]
    assert db.execute("SELECT count(*) FROM deletion_audit").fetchone() == (1,)
