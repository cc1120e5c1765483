"""Rows for the pooled-averages tests: rooms with several sensors, written in SQL as ingest
writes them (sensor, sensor_assignment, capture with the room of the sensor's assignment at ts).

Several sensors of a room on one timeline (many equal timestamps across sensors), values re-sent
and overwritten in shuffled (late) order, a sensor moved from r1 to r2 on a bucket edge and one
from r2 to r1 off the edges, captures exactly at the moves, a sensor of another type in r1 (never
pooled with temperature) and an empty room r3.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.db import room_sensors
from roomtemp.rollup import service as rollups
from tests import reference

ROOMS = ["r1", "r2", "r3"]
Data = dict[str, reference.Sensor]


def moves(start: datetime) -> tuple[datetime, datetime]:
    """When "b" moves r1 -> r2 (a bucket edge) and "c" r2 -> r1 (off every edge)."""
    return start + timedelta(hours=3), start + timedelta(hours=4, minutes=7, seconds=13)


def _times(rng: random.Random, n: int, start: datetime) -> list[datetime]:
    out = set()
    for _ in range(n):
        second = rng.choice([0, 0, 0, rng.randrange(60)])  # many on minute and bucket edges
        micro = rng.choice([0, 0, rng.randrange(1_000_000)])
        out.add(
            start + timedelta(minutes=rng.randrange(6 * 60), seconds=second, microseconds=micro)
        )
    return sorted(out)


def write(db: psycopg.Connection[Any], start: datetime) -> Data:
    """Write six hours of rows from `start`; return the temperature sensors as the reference
    sees them (last write wins)."""
    rng = random.Random(20261207)
    b = db.execute("INSERT INTO building (key, name) VALUES ('hq', '') RETURNING id").fetchone()
    assert b is not None
    room_ids: dict[str, int] = {}
    for key in ROOMS:
        row = db.execute(
            "INSERT INTO room (building_id, key, name) VALUES (%s, %s, '') RETURNING id",
            (b[0], key),
        ).fetchone()
        assert row is not None
        room_ids[key] = row[0]
    temp = db.execute("SELECT id FROM sensor_type WHERE key = 'temperature'").fetchone()
    hum = db.execute(
        "INSERT INTO sensor_type (key, unit, min_value, max_value) "
        "VALUES ('humidity', 'percent', 0, 100) RETURNING id"
    ).fetchone()
    assert temp is not None
    assert hum is not None
    move, move_2 = moves(start)
    history_of: dict[str, list[tuple[datetime | None, str]]] = {
        "default": [(None, "r1")],
        "a": [(None, "r1")],
        "b": [(None, "r1"), (move, "r2")],
        "c": [(None, "r2"), (move_2, "r1")],
        "h": [(None, "r1")],  # humidity: in r1, never pooled with temperature
    }
    shared = _times(rng, 150, start)  # equal timestamps across sensors
    final: dict[str, dict[datetime, float]] = {}
    writes: list[tuple[str, datetime, float]] = []
    for name, history in history_of.items():
        first_room = history[0][1]
        type_id = hum[0] if name == "h" else temp[0]
        if name == "default":
            row = db.execute(
                "INSERT INTO sensor (sensor_type_id, default_room_id) VALUES (%s, %s) RETURNING id",
                (type_id, room_ids[first_room]),
            ).fetchone()
        else:
            row = db.execute(
                "INSERT INTO sensor (key, sensor_type_id) VALUES (%s, %s) RETURNING id",
                (name, type_id),
            ).fetchone()
        assert row is not None
        for valid_from, room in history:
            db.execute(
                "INSERT INTO sensor_assignment (sensor_id, valid_from, room_id) "
                "VALUES (%s, COALESCE(%s, '-infinity'::timestamptz), %s)",
                (row[0], valid_from, room_ids[room]),
            )
            db.execute(room_sensors.RECORD_ALL)
        stamps = sorted(set(rng.sample(shared, 90) + _times(rng, 40, start)))
        stamps += [m for m, _ in history[1:] if m is not None]  # a capture at each move
        for t in stamps:
            writes.append((name, t, round(rng.uniform(15.0, 28.0), rng.choice([1, 3, 6]))))
        final[name] = {}
    # re-sent (identical) and overwritten captures, everything in shuffled (late) order
    writes += rng.sample(writes, 60)
    writes += [(n, t, v + rng.choice([-2.5, 1.25, 3.0])) for n, t, v in rng.sample(writes, 50)]
    rng.shuffle(writes)
    ids = dict(
        db.execute(
            "SELECT COALESCE(key, 'default'), id FROM sensor WHERE key IS NULL OR key <> ''"
        ).fetchall()
    )
    sensors = {n: reference.Sensor(final[n], h) for n, h in history_of.items()}
    for name, t, value in writes:
        room = sensors[name].room_at(t)
        db.execute(
            "INSERT INTO capture (ts, value, room_id, sensor_id) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (room_id, sensor_id, ts) DO UPDATE SET value = EXCLUDED.value",
            (t, value, room_ids[room], ids[name]),
        )
        final[name][t] = value  # last write wins
    return {n: s for n, s in sensors.items() if n != "h"}


def rebuild_rollups(database_url: str, start: datetime, end: datetime) -> None:
    """Build the rollups of the rows written in SQL, as the application does after a load."""

    async def run() -> None:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as conn:
                await rollups.rebuild(conn, start, end)
        finally:
            await engine.dispose()

    asyncio.run(run())
