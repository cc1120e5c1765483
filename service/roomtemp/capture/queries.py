"""SQL for storing captures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import arrays

CaptureKey = tuple[int, int, datetime]

# One statement per batch. `existing` reads the rows as they were before this statement (all CTEs
# share one snapshot), which tells new, identical and changed captures apart without RETURNING
# system columns (that fails on partitioned tables). Identical re-sends are not rewritten.
_UPSERT = text(
    """
    WITH input AS (
        SELECT i.room_id, i.sensor_type_id,
               timestamptz '1970-01-01 00:00:00+00' + interval '1 second' * (i.us / 1000000)
               + interval '1 microsecond' * (i.us % 1000000) AS ts,
               i.value
        FROM unnest(
            CAST(:room_ids AS integer[]), CAST(:sensor_type_ids AS smallint[]),
            CAST(:ts AS bigint[]), CAST(:vals AS double precision[])
        ) AS i(room_id, sensor_type_id, us, value)
    ),
    existing AS (
        SELECT c.room_id, c.sensor_type_id, c.ts, c.value
        FROM capture c JOIN input i USING (room_id, sensor_type_id, ts)
    ),
    upsert AS (
        INSERT INTO capture (ts, value, room_id, sensor_type_id)
        SELECT ts, value, room_id, sensor_type_id FROM input
        ON CONFLICT (room_id, sensor_type_id, ts)
        DO UPDATE SET value = EXCLUDED.value WHERE capture.value <> EXCLUDED.value
    )
    SELECT room_id, sensor_type_id, ts, value FROM existing
    """
)


async def upsert_captures(
    conn: AsyncConnection,
    room_ids: Sequence[int],
    sensor_type_ids: Sequence[int],
    ts: Sequence[datetime],
    values: Sequence[float],
) -> dict[CaptureKey, float]:
    """Insert or replace captures (keys must be unique); returns the values they replaced."""
    rows = await conn.execute(
        _UPSERT,
        {
            "room_ids": arrays.int_literal(room_ids),
            "sensor_type_ids": arrays.int_literal(sensor_type_ids),
            "ts": arrays.micros_literal(ts),
            "vals": arrays.float_literal(values),
        },
    )
    return {(r, s, t): v for r, s, t, v in rows}
