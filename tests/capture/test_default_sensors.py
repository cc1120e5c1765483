"""The building/room form's default sensors: created once per (room, sensor type), also when two
transactions meet them first at the same time."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.capture import sensor_queries
from tests.capture.test_sensor_ingest import room_id


def test_two_transactions_creating_the_same_default_sensor_get_one_sensor(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    room = room_id(db, "hq", "3.14")
    pair = (room, 1)  # temperature

    async def go() -> tuple[dict[tuple[int, int], int], dict[tuple[int, int], int]]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as a, engine.connect() as b:
                first = await sensor_queries.default_sensor_ids(a, [pair])  # not committed yet
                # b's insert waits on a's row; once a commits, b must find a's sensor.
                second = asyncio.create_task(sensor_queries.default_sensor_ids(b, [pair]))
                await asyncio.sleep(0.3)
                assert not second.done()
                await a.commit()
                found = await second
                await b.commit()
                return first, found
        finally:
            await engine.dispose()

    first, second = asyncio.run(go())
    assert first == second
    assert db.execute(
        "SELECT s.id, s.key, a.valid_from::text, a.room_id FROM sensor s"
        " JOIN sensor_assignment a ON a.sensor_id = s.id"
    ).fetchall() == [(first[pair], None, "-infinity", room)]
