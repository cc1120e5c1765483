"""Big API batches (Storage.COPY from STAGE_FROM captures on, issue 19): the same counts,
errors, captures and rollups as the same captures posted in small batches."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import orjson
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.capture import service as capture
from roomtemp.capture.body import parse_body
from roomtemp.capture.schemas import CaptureIn, SensorCaptureIn, one_capture
from tests.capture.test_staged_ingest import POLICY, state
from tests.conftest import NOW
from tests.factories import capture as body

ROOMS = [f"r{n}" for n in range(20)]
START = NOW - timedelta(hours=13)  # every minute used below is in the past


def at(minute: int) -> str:
    return (START + timedelta(minutes=minute)).isoformat()


def test_storage_is_chosen_by_size() -> None:
    assert capture.Storage.for_batch(capture.STAGE_FROM - 1) is capture.Storage.UPSERT
    assert capture.Storage.for_batch(capture.STAGE_FROM) is capture.Storage.COPY
    assert capture.Storage.for_batch(10_000) is capture.Storage.COPY


@pytest.mark.parametrize("seeded", [False, True], ids=["all-new", "mixed"])
def test_a_big_batch_counts_and_stores_as_small_batches_do(
    database_url: str, db: psycopg.Connection[Any], seeded: bool
) -> None:
    """10,000 captures in one batch (staged) against the same list in batches of 100 (the
    statement path): equal counts, captures and rollups. `all-new`: the staged keys are all new
    (plain INSERT, rollups appended); `mixed`: stored keys with the same and other values and
    keys repeated inside the batch (upsert, buckets recomputed)."""
    rng = random.Random(19)
    values = [20.0, 20.5, 21.0]
    if seeded:
        seed = [body(rng.choice(values), room=r, ts=at(m)) for r in ROOMS for m in range(0, 480, 3)]
        batch = [
            body(rng.choice(values), room=rng.choice(ROOMS), ts=at(rng.randrange(480)))
            for _ in range(10_000)
        ]
    else:
        seed = [body(20.0, room=r, ts=at(m)) for r in ROOMS for m in range(0, 240, 3)]
        batch = [
            body(rng.choice(values), room=r, ts=at(240 + m)) for m in range(500) for r in ROOMS
        ]
    items = [one_capture.validate_python(b) for b in batch]

    async def go() -> list[tuple[capture.IngestCounts, list[list[Any]]]]:
        engine = create_async_engine(database_url)
        out = []
        try:
            async with engine.begin() as conn:
                await capture.ingest(
                    conn,
                    capture.ParsedBatch([CaptureIn(**s) for s in seed]),
                    policy=POLICY,
                    now=NOW,
                )
            for size in (len(items), 100):
                async with engine.connect() as conn:
                    total = capture.IngestCounts(0, 0, 0)
                    for n in range(0, len(items), size):
                        c = await capture.ingest(
                            conn, capture.ParsedBatch(items[n : n + size]), policy=POLICY, now=NOW
                        )
                        total = capture.IngestCounts(
                            total.inserted + c.inserted,
                            total.duplicates + c.duplicates,
                            total.updated + c.updated,
                        )
                    out.append((total, await state(conn)))
                    await conn.rollback()
        finally:
            await engine.dispose()
        return out

    (big, big_state), (small, small_state) = asyncio.run(go())
    assert big == small
    assert big.inserted + big.duplicates + big.updated == len(items)
    if seeded:
        assert min(big.inserted, big.duplicates, big.updated) > 1000
    else:
        assert big == capture.IngestCounts(len(items), 0, 0)
    assert big_state == small_state


def test_a_bad_item_at_index_9999_is_named_and_nothing_is_stored(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    good = [body(20.0, room=ROOMS[n % 20], ts=at(n // 20)) for n in range(9_999)]
    for bad, where in (
        (body(20.0, room="x", ts=at(0), unit="lumen"), ("unit", "bad_unit")),  # domain rule
        (body("warm", room="x", ts=at(0)), ("value", "float_type")),  # wire format
        (body(20.0, room="x", ts=(NOW + timedelta(hours=1)).isoformat()), ("ts", "in_future")),
    ):
        r = client.post("/v1/captures", json=[*good, bad])
        assert r.status_code == 422, r.text
        details = r.json()["error"]["details"]
        assert [(d["index"], d["field"], d["code"]) for d in details] == [(9_999, *where)]
        assert r.json()["error"]["message"].startswith("1 of 10000 captures are invalid")
    assert db.execute("SELECT count(*) FROM capture").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM capture_rollup_15m").fetchone() == (0,)


def test_a_big_batch_over_http_resent_and_changed(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    batch = [body(20.0, room=ROOMS[n % 20], ts=at(n // 20)) for n in range(10_000)]
    assert client.post("/v1/captures", json=batch).json() == {
        "inserted": 10_000,
        "duplicates": 0,
        "updated": 0,
    }
    assert client.post("/v1/captures", json=batch).json() == {
        "inserted": 0,
        "duplicates": 10_000,
        "updated": 0,
    }
    # one value changed, then changed back further on in the same batch: as if posted one by one
    changed = [*batch, body(25.0, room="r3", ts=at(7)), body(26.0, room="r3", ts=at(7))]
    r = client.post("/v1/captures", json=changed[2:])
    assert r.json() == {"inserted": 0, "duplicates": 9_998, "updated": 2}
    # the changed bucket is recomputed: its statistics are the raw captures' (exact to 1e-9)
    raw = db.execute(
        "SELECT count(*), sum(c.value), min(c.value), max(c.value) FROM capture c"
        " JOIN room r ON r.id = c.room_id WHERE r.key = 'r3'"
        " AND c.ts > %(end)s - interval '15 minutes' AND c.ts <= %(end)s",
        {"end": START + timedelta(minutes=15)},
    ).fetchone()
    rolled = db.execute(
        "SELECT q.count, q.sum, q.min, q.max FROM capture_rollup_15m q"
        " JOIN room r ON r.id = q.room_id WHERE r.key = 'r3' AND q.bucket = %(end)s",
        {"end": START + timedelta(minutes=15)},
    ).fetchone()
    assert raw is not None
    assert rolled is not None
    assert raw[0] == rolled[0] == 15
    assert all(abs(a - b) <= 1e-9 for a, b in zip(raw[1:], rolled[1:], strict=True))
    assert abs(raw[3] - (26.0 + 273.15)) <= 1e-9


def test_one_call_validation_gives_what_item_by_item_gives() -> None:
    """parse_body's one-call path (a list of one form) and the per-item path agree."""
    rooms = [body(20.0 + n / 7, room=ROOMS[n % 20], ts=at(n // 20)) for n in range(1_000)]
    sensors = [
        {"sensor": f"s{n}", "value": 1.5 + n, "ts": at(n), "battery": 50} for n in range(300)
    ]
    mixed = [*rooms[:10], *sensors[:10]]
    policy = POLICY
    for data in (rooms, sensors, mixed):
        items, problems, single = parse_body(orjson.dumps(data), policy)
        assert (problems, single) == ([], False)
        assert items == [one_capture.validate_python(d) for d in data]
    assert all(isinstance(i, SensorCaptureIn) for i in parse_body(orjson.dumps(sensors), policy)[0])
