"""Both read paths of bucket mode against tests/reference.py, on every case of test_buckets.py:
the raw captures, and the left-closed 1-hour / 1-day rollup pieces (raw captures only in the
hours holding an edge off the hour or a move). The rollup path is called for every case, also
those the service would read raw; that it really reads the pieces is shown by corrupting them."""

from __future__ import annotations

import asyncio
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.average import bucket_queries
from roomtemp.average.bucket_queries import BucketQuery, BucketRow
from roomtemp.db import pieces
from tests import bucket_data, reference
from tests.average.test_buckets import CASES, close, dt, ref_edges

Data = bucket_data.Data


@pytest.fixture
def data(db: psycopg.Connection[Any], database_url: str) -> Data:
    return bucket_data.write(db, database_url)


def _check(rows: list[BucketRow], expected: list[reference.Pooled], where: object) -> None:
    assert [r.index for r in rows] == list(range(1, len(expected) + 1)), where
    for r, e in zip(rows, expected, strict=True):
        assert (r.count, r.sensors) == (e.count, e.sensors), (where, r, e)
        for name in ("mean", "min", "max", "time_weighted_mean"):
            assert close(getattr(r, name), getattr(e, name)), (where, name, r, e)


def _ids(db: psycopg.Connection[Any], sql: str) -> dict[str, int]:
    return {k: v for k, v in db.execute(sql).fetchall()}


@pytest.mark.parametrize("rollups", [False, True])
def test_both_paths_match_reference(
    db: psycopg.Connection[Any], database_url: str, data: Data, rollups: bool
) -> None:
    rooms = _ids(db, "SELECT key, id FROM room")
    sensors = _ids(db, "SELECT COALESCE(key, 'default'), id FROM sensor")
    type_row = db.execute("SELECT id FROM sensor_type WHERE key = 'temperature'").fetchone()
    assert type_row is not None
    type_id = type_row[0]
    used_days = 0

    async def run() -> None:
        nonlocal used_days
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                for zone_name, step, frm, to in CASES:
                    edges = ref_edges(dt(frm), dt(to), step, ZoneInfo(zone_name))
                    used_days += len(pieces.rollup_layout(edges)[1])
                    for room in bucket_data.ROOMS:
                        q = BucketQuery(type_id, edges, room_id=rooms[room])
                        rows = await bucket_queries.select_buckets(conn, q, rollups=rollups)
                        expected = reference.pooled_buckets(data, room, edges)
                        _check(rows, expected, (zone_name, step, frm, room))
                    for name in ("b", "c"):
                        q = BucketQuery(type_id, edges, sensor_id=sensors[name])
                        rows = await bucket_queries.select_buckets(conn, q, rollups=rollups)
                        expected = reference.sensor_buckets(data[name], edges)
                        _check(rows, expected, (zone_name, step, frm, name))
                    building = await bucket_queries.select_buckets(
                        conn, BucketQuery(type_id, edges, building_id=1), rollups=rollups
                    )
                    for room in bucket_data.ROOMS:
                        expected = reference.pooled_buckets(data, room, edges)
                        mine = [r for r in building if r.group == room]
                        _check(mine, expected, (zone_name, step, frm, "building", room))
        finally:
            await engine.dispose()

    asyncio.run(run())
    assert used_days > 300  # the UTC cases read whole 1-day pieces


def test_rollup_path_reads_the_pieces(
    db: psycopg.Connection[Any], database_url: str, data: Data
) -> None:
    """Corrupt the 1-hour and 1-day pieces: the rollup path's answer moves, the raw one not."""
    zone_name, step, frm, to = CASES[5]  # Zurich, 1d, a whole year
    edges = ref_edges(dt(frm), dt(to), step, ZoneInfo(zone_name))
    assert bucket_queries.rollups_pay(edges)
    expected = reference.pooled_buckets(data, "r1", edges)
    type_id, room_id = (
        _ids(db, "SELECT key, id FROM sensor_type")["temperature"],
        _ids(db, "SELECT key, id FROM room")["r1"],
    )
    db.execute("UPDATE capture_rollup_1h SET sum = sum + 1000 * count")
    db.execute("UPDATE capture_rollup_1d SET sum = sum + 1000 * count")

    async def read(rollups: bool) -> list[BucketRow]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                return await bucket_queries.select_buckets(
                    conn, BucketQuery(type_id, edges, room_id=room_id), rollups=rollups
                )
        finally:
            await engine.dispose()

    _check(asyncio.run(read(False)), expected, "raw")
    moved = asyncio.run(read(True))
    assert sum(r.mean is not None and r.mean > 900 for r in moved) > 300
