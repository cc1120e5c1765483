"""SQL for rolling-window statistics. Every average is computed by PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class WindowStats:
    count: int
    mean: float | None
    min: float | None
    max: float | None
    time_weighted_mean: float | None = None


# The window is (start, end]. For the time-weighted mean each capture holds its value until the
# next one (or the window end); the stretch before the first capture takes the last value from
# before the window (carried to `start`) when there is one.
_WINDOW = text(
    """
    WITH w AS (
        SELECT ts, value FROM capture
        WHERE room_id = :room_id AND sensor_type_id = :sensor_type_id
          AND ts > :start AND ts <= :end
    ),
    prev AS (
        SELECT c.value FROM capture c
        WHERE c.room_id = :room_id AND c.sensor_type_id = :sensor_type_id AND c.ts <= :start
        ORDER BY c.ts DESC LIMIT 1
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
    SELECT agg.n, agg.mean, agg.lo, agg.hi,
           CASE WHEN agg.n > 0 THEN
               (SELECT SUM(value * held) / NULLIF(SUM(held), 0) FROM seg)
           END AS twm
    FROM (
        SELECT COUNT(*) AS n, AVG(value) AS mean, MIN(value) AS lo, MAX(value) AS hi FROM w
    ) AS agg
    """
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
    return WindowStats(*row)


@dataclass(frozen=True)
class SeriesPoint:
    t: datetime
    count: int
    mean: float | None
    min: float | None
    max: float | None


# One rolling window (t - window, t] per point t; each window is an index range scan.
_SERIES = text(
    """
    SELECT p.t, a.n, a.mean, a.lo, a.hi
    FROM generate_series(CAST(:first AS timestamptz), CAST(:last AS timestamptz),
                         CAST(:step AS interval)) AS p(t)
    CROSS JOIN LATERAL (
        SELECT COUNT(*) AS n, AVG(value) AS mean, MIN(value) AS lo, MAX(value) AS hi
        FROM capture c
        WHERE c.room_id = :room_id AND c.sensor_type_id = :sensor_type_id
          AND c.ts > p.t - CAST(:window AS interval) AND c.ts <= p.t
    ) AS a
    ORDER BY p.t
    """
)


async def select_series(
    conn: AsyncConnection,
    room_id: int,
    sensor_type_id: int,
    first: datetime,
    last: datetime,
    step: timedelta,
    window: timedelta,
) -> list[SeriesPoint]:
    rows = await conn.execute(
        _SERIES,
        {
            "room_id": room_id,
            "sensor_type_id": sensor_type_id,
            "first": first,
            "last": last,
            "step": step,
            "window": window,
        },
    )
    return [SeriesPoint(*r) for r in rows]


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
