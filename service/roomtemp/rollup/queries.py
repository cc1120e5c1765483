"""SQL that keeps the rollup tables exact.

A bucket is keyed by its END and holds the captures with end - stride < ts <= end, the same
half-open side as the rolling windows (start, end], so a window that is a multiple of the stride
and ends on a bucket edge is exactly a union of buckets. The bucket arithmetic lives in one SQL
function, `roomtemp_bucket(ts, stride)` (migration 0004), so it can change per engine.

Maintenance recomputes each touched bucket from the raw captures (at most one bucket's rows)
rather than adding deltas: that stays exact for re-sends, last-write-wins updates that lower or
raise a min or max, and late data, and it never accumulates floating-point drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import arrays

# Rows are inserted in key order so concurrent transactions lock rollup rows in the same order.
REFRESH_15M = text(
    """
    INSERT INTO capture_rollup_15m AS r (bucket, sum, min, max, count, room_id, sensor_type_id)
    SELECT k.bucket, a.s, a.lo, a.hi, a.n, k.room_id, k.sensor_type_id
    FROM (
        SELECT DISTINCT room_id, sensor_type_id,
               roomtemp_bucket(ts, interval '15 minutes') AS bucket
        FROM unnest(CAST(:room_ids AS integer[]), CAST(:sensor_type_ids AS smallint[]),
                    CAST(:ts AS bigint[])) AS i(room_id, sensor_type_id, us)
        CROSS JOIN LATERAL (
            SELECT timestamptz '1970-01-01 00:00:00+00' + interval '1 second' * (i.us / 1000000)
               + interval '1 microsecond' * (i.us % 1000000) AS ts
        ) AS t
    ) AS k
    CROSS JOIN LATERAL (
        SELECT SUM(c.value) AS s, MIN(c.value) AS lo, MAX(c.value) AS hi, COUNT(*) AS n
        FROM capture c
        WHERE c.room_id = k.room_id AND c.sensor_type_id = k.sensor_type_id
          AND c.ts > k.bucket - interval '15 minutes' AND c.ts <= k.bucket
    ) AS a
    WHERE a.n > 0
    ORDER BY k.room_id, k.sensor_type_id, k.bucket
    ON CONFLICT (room_id, sensor_type_id, bucket) DO UPDATE
    SET sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max, count = EXCLUDED.count
    WHERE (r.sum, r.min, r.max, r.count)
          IS DISTINCT FROM (EXCLUDED.sum, EXCLUDED.min, EXCLUDED.max, EXCLUDED.count)
    """
)

# The hour is exactly four 15-minute buckets (both aligned to the Unix epoch).
REFRESH_1H = text(
    """
    INSERT INTO capture_rollup_1h AS r (bucket, sum, min, max, count, room_id, sensor_type_id)
    SELECT k.bucket, a.s, a.lo, a.hi, a.n, k.room_id, k.sensor_type_id
    FROM (
        SELECT DISTINCT room_id, sensor_type_id,
               roomtemp_bucket(ts, interval '1 hour') AS bucket
        FROM unnest(CAST(:room_ids AS integer[]), CAST(:sensor_type_ids AS smallint[]),
                    CAST(:ts AS bigint[])) AS i(room_id, sensor_type_id, us)
        CROSS JOIN LATERAL (
            SELECT timestamptz '1970-01-01 00:00:00+00' + interval '1 second' * (i.us / 1000000)
               + interval '1 microsecond' * (i.us % 1000000) AS ts
        ) AS t
    ) AS k
    CROSS JOIN LATERAL (
        SELECT SUM(q.sum) AS s, MIN(q.min) AS lo, MAX(q.max) AS hi, SUM(q.count) AS n
        FROM capture_rollup_15m q
        WHERE q.room_id = k.room_id AND q.sensor_type_id = k.sensor_type_id
          AND q.bucket > k.bucket - interval '1 hour' AND q.bucket <= k.bucket
    ) AS a
    WHERE a.n > 0
    ORDER BY k.room_id, k.sensor_type_id, k.bucket
    ON CONFLICT (room_id, sensor_type_id, bucket) DO UPDATE
    SET sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max, count = EXCLUDED.count
    WHERE (r.sum, r.min, r.max, r.count)
          IS DISTINCT FROM (EXCLUDED.sum, EXCLUDED.min, EXCLUDED.max, EXCLUDED.count)
    """
)


async def refresh_buckets(
    conn: AsyncConnection,
    room_ids: Sequence[int],
    sensor_type_ids: Sequence[int],
    ts: Sequence[datetime],
) -> None:
    """Recompute the 15-minute and 1-hour buckets holding these capture keys."""
    params = {
        "room_ids": arrays.int_literal(room_ids),
        "sensor_type_ids": arrays.int_literal(sensor_type_ids),
        "ts": arrays.micros_literal(ts),
    }
    await conn.execute(REFRESH_15M, params)
    await conn.execute(REFRESH_1H, params)


# Whole-range rebuild, for captures loaded around the API (COPY, imports): every bucket that
# overlaps [:start, :end] is recomputed.
REBUILD_15M = text(
    """
    INSERT INTO capture_rollup_15m AS r (bucket, sum, min, max, count, room_id, sensor_type_id)
    SELECT roomtemp_bucket(ts, interval '15 minutes') AS b,
           SUM(value), MIN(value), MAX(value), COUNT(*), room_id, sensor_type_id
    FROM capture
    WHERE ts > roomtemp_bucket(CAST(:start AS timestamptz), interval '15 minutes')
               - interval '15 minutes'
      AND ts <= roomtemp_bucket(CAST(:end AS timestamptz), interval '15 minutes')
    GROUP BY room_id, sensor_type_id, b
    ORDER BY room_id, sensor_type_id, b
    ON CONFLICT (room_id, sensor_type_id, bucket) DO UPDATE
    SET sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max, count = EXCLUDED.count
    """
)

REBUILD_1H = text(
    """
    INSERT INTO capture_rollup_1h AS r (bucket, sum, min, max, count, room_id, sensor_type_id)
    SELECT roomtemp_bucket(bucket, interval '1 hour') AS b,
           SUM(sum), MIN(min), MAX(max), SUM(count), room_id, sensor_type_id
    FROM capture_rollup_15m
    WHERE bucket > roomtemp_bucket(CAST(:start AS timestamptz), interval '1 hour')
                   - interval '1 hour'
      AND bucket <= roomtemp_bucket(CAST(:end AS timestamptz), interval '1 hour')
    GROUP BY room_id, sensor_type_id, b
    ORDER BY room_id, sensor_type_id, b
    ON CONFLICT (room_id, sensor_type_id, bucket) DO UPDATE
    SET sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max, count = EXCLUDED.count
    """
)


async def rebuild(conn: AsyncConnection, start: datetime, end: datetime) -> None:
    """Recompute every bucket overlapping [start, end] from the raw captures."""
    await conn.execute(REBUILD_15M, {"start": start, "end": end})
    await conn.execute(REBUILD_1H, {"start": start, "end": end})
