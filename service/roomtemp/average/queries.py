"""SQL for rolling-window statistics. Every average is computed by PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import driver


@dataclass(frozen=True)
class WindowStats:
    count: int
    mean: float | None
    min: float | None
    max: float | None
    time_weighted_mean: float | None = None


# The window is (start, end]. For the time-weighted mean each capture holds its value until the
# next one (or the window end); the stretch before the first capture takes the last value from
# before the window (carried to `start`) when there is one. One text for both ways of naming the
# room and sensor type: {keys} is a CTE `k` with room_id, sensor_type_id, key and unit.
_WINDOW_OF_KEYS = """
    WITH {keys},
    w AS (
        SELECT c.ts, c.value FROM k JOIN capture c
          ON c.room_id = k.room_id AND c.sensor_type_id = k.sensor_type_id
        WHERE c.ts > :start AND c.ts <= :end
    ),
    prev AS (  -- LATERAL + LIMIT: one backward index step, not a sort of the room's history
        SELECT p.value FROM k CROSS JOIN LATERAL (
            SELECT c.value FROM capture c
            WHERE c.room_id = k.room_id AND c.sensor_type_id = k.sensor_type_id
              AND c.ts <= :start
            ORDER BY c.ts DESC LIMIT 1
        ) AS p
    ),
    seg AS (
        SELECT value,
               CAST(EXTRACT(EPOCH FROM COALESCE(LEAD(ts) OVER (ORDER BY ts), :end) - ts)
                    AS double precision) AS held
        FROM (
            SELECT ts, value FROM w
            UNION ALL SELECT CAST(:start AS timestamptz), value FROM prev
        ) AS p
    )
    SELECT k.key, k.unit, agg.n, agg.mean, agg.lo, agg.hi,
           CASE WHEN agg.n > 0 THEN
               (SELECT SUM(value * held) / NULLIF(SUM(held), 0) FROM seg)
           END AS twm
    FROM k CROSS JOIN (
        SELECT COUNT(*) AS n, AVG(value) AS mean, MIN(value) AS lo, MAX(value) AS hi FROM w
    ) AS agg
"""

# Room and sensor type given by id (key and unit are not needed).
_WINDOW = text(
    _WINDOW_OF_KEYS.format(
        keys="""k AS (
        SELECT CAST(:room_id AS integer) AS room_id,
               CAST(:sensor_type_id AS smallint) AS sensor_type_id,
               CAST(NULL AS text) AS key, CAST(NULL AS text) AS unit
    )"""
    )
)


async def select_window_stats(
    conn: AsyncConnection, room_id: int, sensor_type_id: int, start: datetime, end: datetime
) -> WindowStats:
    row = (
        await conn.execute(
            _WINDOW,
            {"room_id": room_id, "sensor_type_id": sensor_type_id, "start": start, "end": end},
        )
    ).one()
    return WindowStats(*row[2:])


@dataclass(frozen=True)
class KeyedWindowStats:
    sensor_type_key: str
    sensor_type_unit: str
    stats: WindowStats


# The same statistics addressed by keys: room and sensor type are resolved in the same statement
# (one round trip for the dashboards' hottest query). No row: the room or sensor type is unknown.
_WINDOW_BY_KEYS = text(
    _WINDOW_OF_KEYS.format(
        keys="""k AS (
        SELECT r.id AS room_id, st.id AS sensor_type_id, st.key, st.unit
        FROM room r JOIN building b ON b.id = r.building_id
        CROSS JOIN sensor_type st
        WHERE b.key = :building AND r.key = :room AND st.key = :sensor_type
    )"""
    )
)


async def select_window_stats_by_keys(
    conn: AsyncConnection,
    building: str,
    room: str,
    sensor_type: str,
    start: datetime,
    end: datetime,
) -> KeyedWindowStats | None:
    # The dashboards' hottest statement: straight on the driver (db/driver.py says why).
    row = await driver.fetch_one(
        conn,
        _WINDOW_BY_KEYS,
        {
            "building": building,
            "room": room,
            "sensor_type": sensor_type,
            "start": start,
            "end": end,
        },
        name="select latest_window",
    )
    if row is None:
        return None
    key, unit, *stats = row
    return KeyedWindowStats(key, unit, WindowStats(*stats))


@dataclass(frozen=True)
class SeriesPoint:
    t: datetime
    count: int
    mean: float | None
    min: float | None
    max: float | None


# The points first, first + step, … last of a series.
_POINTS = """generate_series(CAST(:first AS timestamptz), CAST(:last AS timestamptz),
                         CAST(:step AS interval)) AS p(t)"""


def _window_per_point(columns: str, aggregates: str, source: str, ts: str) -> str:
    """One rolling window (t - window, t] per point t over `source` (aliased), `ts` its time."""
    alias = source.split()[-1]
    return f"""
    SELECT p.t, {columns}
    FROM {_POINTS}
    CROSS JOIN LATERAL (
        SELECT {aggregates}
        FROM {source}
        WHERE {alias}.room_id = :room_id AND {alias}.sensor_type_id = :sensor_type_id
          AND {ts} > p.t - CAST(:window AS interval) AND {ts} <= p.t
    ) AS a
    ORDER BY p.t
    """  # noqa: S608 - fixed fragments; values are bound


# From the raw captures: each window is an index range scan.
_SERIES = text(
    _window_per_point(
        "a.n, a.mean, a.lo, a.hi",
        "COUNT(*) AS n, AVG(value) AS mean, MIN(value) AS lo, MAX(value) AS hi",
        "capture c",
        "c.ts",
    )
)


# The same series from the rollup tables, for a step and window that are multiples of the bucket
# (points are multiples of step since the epoch, so each window is a union of whole buckets).
def _rollup_series(table: str) -> str:
    return _window_per_point(
        "COALESCE(a.n, 0), a.s / a.n, a.lo, a.hi",
        "SUM(r.count) AS n, SUM(r.sum) AS s, MIN(r.min) AS lo, MAX(r.max) AS hi",
        f"{table} r",
        "r.bucket",
    )


# When the window is one bucket, each point is the bucket ending at it: one range scan, joined.
_BUCKET_SERIES = """
    SELECT p.t, COALESCE(r.count, 0), r.sum / r.count, r.min, r.max
    FROM {points}
    LEFT JOIN (
        SELECT bucket, count, sum, min, max FROM {table}
        WHERE room_id = :room_id AND sensor_type_id = :sensor_type_id
          AND bucket >= CAST(:first AS timestamptz) AND bucket <= CAST(:last AS timestamptz)
    ) AS r ON r.bucket = p.t
    ORDER BY p.t
"""
SERIES_15M = text(_rollup_series("capture_rollup_15m"))
SERIES_1H = text(_rollup_series("capture_rollup_1h"))
ROLLUP_SERIES = {timedelta(hours=1): SERIES_1H, timedelta(minutes=15): SERIES_15M}
BUCKET_SERIES = {
    timedelta(hours=1): text(_BUCKET_SERIES.format(points=_POINTS, table="capture_rollup_1h")),
    timedelta(minutes=15): text(_BUCKET_SERIES.format(points=_POINTS, table="capture_rollup_15m")),
}


def rollup_bucket(step: timedelta, window: timedelta) -> timedelta | None:
    """The widest rollup bucket that both step and window are multiples of, if any."""
    for bucket in ROLLUP_SERIES:  # widest first
        if step % bucket == timedelta(0) and window % bucket == timedelta(0):
            return bucket
    return None


async def select_series(
    conn: AsyncConnection,
    room_id: int,
    sensor_type_id: int,
    *,
    first: datetime,
    last: datetime,
    step: timedelta,
    window: timedelta,
    bucket: timedelta | None,
) -> list[SeriesPoint]:
    """The points first, first + step, … last; from the raw captures, or from the rollups of
    `bucket` (see rollup_bucket)."""
    if bucket is None:
        query = _SERIES
    else:
        query = BUCKET_SERIES[bucket] if window == bucket else ROLLUP_SERIES[bucket]
    # The series statements all take the same parameters.
    rows = await conn.execute(
        query,
        {
            "room_id": room_id,
            "sensor_type_id": sensor_type_id,
            "first": first,
            "last": last,
            "step": step,
            "window": window,
        },
    )
    return [SeriesPoint(*r) for r in rows.all()]


@dataclass(frozen=True)
class RoomWindowStats:
    room: str
    count: int
    mean: float | None
    min: float | None
    max: float | None
    last_ts: datetime | None


_OVERVIEW = text(
    """
    SELECT r.key, a.n, a.mean, a.lo, a.hi, l.last_ts
    FROM room r
    CROSS JOIN LATERAL (
        SELECT COUNT(*) AS n, AVG(value) AS mean, MIN(value) AS lo, MAX(value) AS hi
        FROM capture c
        WHERE c.room_id = r.id AND c.sensor_type_id = :sensor_type_id
          AND c.ts > :start AND c.ts <= :end
    ) AS a
    CROSS JOIN LATERAL (
        SELECT MAX(c.ts) AS last_ts FROM capture c
        WHERE c.room_id = r.id AND c.sensor_type_id = :sensor_type_id AND c.ts <= :end
    ) AS l
    WHERE r.building_id = :building_id
    ORDER BY r.key
    """
)


async def select_building_window_stats(
    conn: AsyncConnection, building_id: int, sensor_type_id: int, start: datetime, end: datetime
) -> list[RoomWindowStats]:
    rows = await conn.execute(
        _OVERVIEW,
        {"building_id": building_id, "sensor_type_id": sensor_type_id, "start": start, "end": end},
    )
    return [RoomWindowStats(*r) for r in rows]
