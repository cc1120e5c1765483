"""The staged load (COPY into a staging table, one upsert from it) stores and counts exactly as
the API's one-statement upsert: same captures, same rollups, same inserted/duplicates/updated,
including keys repeated inside one batch."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from roomtemp.capture import service as capture
from roomtemp.capture.schemas import CaptureIn, one_capture
from tests.conftest import NOW
from tests.factories import capture as body

POLICY = capture.IngestPolicy(
    auto_register=True, max_batch_size=10_000, max_future_skew=timedelta(minutes=5)
)
ROOMS = ["a", "b", "c"]


def item(room: str, minute: int, value: float) -> CaptureIn:
    return CaptureIn.model_validate(
        body(value, room=room, ts=NOW - timedelta(hours=6) + timedelta(minutes=minute))
    )


async def state(conn: AsyncConnection) -> list[list[Any]]:
    """Every capture and rollup row (rollup sums rounded: summation order may differ)."""
    captures = await conn.execute(text("SELECT * FROM capture ORDER BY 3, 4, 1"))
    out: list[list[Any]] = [[tuple(r) for r in captures]]
    # 15-minute buckets are keyed by their end, 1-hour pieces by their start (migration 0009)
    for table, time in (("capture_rollup_15m", "bucket"), ("capture_rollup_1h", "start")):
        rows = await conn.execute(
            text(
                f"SELECT room_id, sensor_id, {time}, count, min, max, sum "
                f"FROM {table} ORDER BY 1, 2, 3"
            )
        )
        out.append([(*r[:-1], round(r[-1], 9)) for r in rows])
    return out


def test_staged_and_statement_paths_agree_on_counts_captures_and_rollups(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    rng = random.Random(8)
    values = [20.0, 20.5, 21.0]  # few values: repeats with the same and another value are common
    seed = [item(r, m, rng.choice(values)) for r in ROOMS for m in range(0, 360, 2)]
    batch = [item(rng.choice(ROOMS), rng.randrange(360), rng.choice(values)) for _ in range(2000)]

    async def go() -> dict[bool, tuple[capture.IngestCounts, list[list[Any]]]]:
        engine = create_async_engine(database_url)
        out = {}
        try:
            async with engine.begin() as conn:
                await capture.ingest(conn, capture.ParsedBatch(seed), policy=POLICY, now=NOW)
            for staged in (False, True):
                async with engine.connect() as conn:
                    storage = capture.Storage.COPY if staged else capture.Storage.UPSERT
                    counts = await capture.ingest(
                        conn, capture.ParsedBatch(batch), policy=POLICY, now=NOW, storage=storage
                    )
                    out[staged] = (counts, await state(conn))
                    await conn.rollback()
        finally:
            await engine.dispose()
        return out

    got = asyncio.run(go())
    counts = got[True][0]
    assert counts == got[False][0]
    assert counts.inserted + counts.duplicates + counts.updated == len(batch)
    assert min(counts.inserted, counts.duplicates, counts.updated) > 100  # all three exercised
    assert got[True][1] == got[False][1]


def test_staging_twice_in_one_transaction_and_nothing_left_after_commit(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    async def go() -> tuple[list[capture.IngestCounts], object]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                first = await capture.ingest(
                    conn,
                    capture.ParsedBatch([item("a", 0, 20.0), item("a", 1, 20.0)]),
                    policy=POLICY,
                    now=NOW,
                    storage=capture.Storage.COPY,
                )
                second = await capture.ingest(
                    conn,
                    capture.ParsedBatch([item("a", 1, 20.0), item("a", 1, 21.0)]),
                    policy=POLICY,
                    now=NOW,
                    storage=capture.Storage.COPY,
                )
                await conn.commit()
                left = await conn.scalar(text("SELECT to_regclass('pg_temp.capture_stage')"))
        finally:
            await engine.dispose()
        return [first, second], left

    counts, left = asyncio.run(go())
    assert counts == [capture.IngestCounts(2, 0, 0), capture.IngestCounts(0, 1, 1)]
    assert left is None
    assert db.execute("SELECT value FROM capture ORDER BY ts").fetchall() == [
        (293.15,),
        (294.15,),
    ]


def test_with_a_rejected_list_bad_items_are_named_and_the_others_stored(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    future = one_capture.validate_python(body(20.0, room="a", ts=NOW + timedelta(hours=1)))
    wrong_unit = one_capture.validate_python(body(20.0, room="new", unit="lumen"))
    batch = [item("a", 0, 20.0), future, item("new", 0, 21.0), wrong_unit, item("a", 0, 20.0)]

    async def go() -> tuple[capture.IngestCounts, list[tuple[int | None, str]]]:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as conn:
                counts, rejected = await capture.ingest_valid(
                    conn, batch, policy=POLICY, now=NOW, storage=capture.Storage.COPY
                )
        finally:
            await engine.dispose()
        return counts, [(d.index, d.code) for d in rejected]

    counts, rejected = asyncio.run(go())
    assert counts == capture.IngestCounts(2, 1, 0)
    assert rejected == [(1, "in_future"), (3, "bad_unit")]
    # auto-registration still registers the rooms of the good items
    assert db.execute("SELECT key FROM room ORDER BY key").fetchall() == [("a",), ("new",)]
