"""Whole-range rebuild of the rollups (rollup/queries.py says what they hold): for captures
loaded around the API (COPY, imports) and comfort changes, every bucket overlapping [start, end]
is recomputed from the raw captures, never one that holds time before the raw horizon."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import pieces
from roomtemp.rollup.queries import LIVE_PIECE, RAW_FROM, bucketed, upsert_tail


# Whole-range rebuild, for captures loaded around the API (COPY, imports): every bucket that
# overlaps [:start, :end] is recomputed.
def _overlapping(column: str, stride: str) -> str:
    """`column` (a bucket end or a capture time) lies in a 15-minute-style bucket (end-keyed)
    of `stride` overlapping [:start, :end]."""
    return f"""{column} > roomtemp_bucket(CAST(:start AS timestamptz), interval '{stride}')
                     - interval '{stride}'
          AND {column} <= roomtemp_bucket(CAST(:end AS timestamptz), interval '{stride}')"""


def _overlapping_piece(column: str, stride: str) -> str:
    """`column` (a piece start or a capture time) lies in a piece of `stride` overlapping
    [:start, :end]."""
    return f"""{column} >= roomtemp_bucket_start(CAST(:start AS timestamptz), interval '{stride}')
          AND {column} < roomtemp_bucket_start(CAST(:end AS timestamptz), interval '{stride}')
                         + interval '{stride}'"""


REBUILD_15M = text(
    f"""
    INSERT INTO capture_rollup_15m AS r (bucket, sum, min, max, count, room_id, sensor_id)
    SELECT roomtemp_bucket(ts, interval '15 minutes') AS b,
           SUM(value), MIN(value), MAX(value), COUNT(*), room_id, sensor_id
    FROM capture
    WHERE {_overlapping("ts", "15 minutes")} AND ts > {RAW_FROM}
    GROUP BY room_id, sensor_id, b
    ORDER BY room_id, sensor_id, b
    ON CONFLICT (room_id, sensor_id, bucket) DO UPDATE
    SET sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max, count = EXCLUDED.count
    """  # noqa: S608 - fixed fragments; values are bound
)


def _rebuild_pieces(table: str, summary: str, rows: str, alias: str, bucket: str) -> TextClause:
    """Recompute the pieces of `table` from `rows` (a subquery aliased `alias`, its piece start
    in column `bucket`), one piece per start, summarised by `summary`."""
    return text(
        f"""
    INSERT INTO {table} AS r (start, room_id, sensor_id, {pieces.column_list()})
    SELECT {alias}.{bucket}, {alias}.room_id, {alias}.sensor_id,
           {summary}
    FROM ({rows}) AS {alias}
    JOIN sensor sn ON sn.id = {alias}.sensor_id
    JOIN sensor_type st ON st.id = sn.sensor_type_id
    GROUP BY {alias}.room_id, {alias}.sensor_id, {alias}.{bucket}, st.comfort_low,
             st.comfort_high
    ORDER BY {alias}.room_id, {alias}.sensor_id, {alias}.{bucket}
    {upsert_tail()}
    """  # noqa: S608 - fixed fragments; values are bound
    )


REBUILD_1H = _rebuild_pieces(
    "capture_rollup_1h",
    pieces.of_captures("st.comfort_low", "st.comfort_high"),
    f"""
        {bucketed("capture", "1 hour")}
        WHERE {_overlapping_piece("c.ts", "1 hour")} AND {LIVE_PIECE.format(b="c.ts")}
    """,
    "s",
    "start",
)

REBUILD_1D = _rebuild_pieces(
    "capture_rollup_1d",
    pieces.of_pieces("st.comfort_low", "st.comfort_high"),
    f"""
        SELECT h.*, roomtemp_bucket_start(h.start, interval '1 day') AS day,
               date_part('epoch', LEAD(h.first_ts) OVER (
                   PARTITION BY h.room_id, h.sensor_id,
                                roomtemp_bucket_start(h.start, interval '1 day')
                   ORDER BY h.start) - h.last_ts) AS seg
        FROM capture_rollup_1h h
        WHERE {_overlapping_piece("h.start", "1 day")} AND {LIVE_PIECE.format(b="h.start")}
    """,  # noqa: S608 - fixed fragments
    "p",
    "day",
)

REBUILDS = (REBUILD_15M, REBUILD_1H, REBUILD_1D)


async def rebuild(conn: AsyncConnection, start: datetime, end: datetime) -> None:
    """Recompute every bucket overlapping [start, end] from the raw captures."""
    for stmt in REBUILDS:
        await conn.execute(stmt, {"start": start, "end": end})
