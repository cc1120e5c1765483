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
    sensors: int = 0


# The sensors of a sensor type that have been in room k (their captures there are attributed to
# it): from the assignment history, a handful of rows. Needs a CTE `k` with room_id and
# sensor_type_id; each sensor's captures are then one index range scan on (room, sensor, ts).
ROOM_SENSORS = """
    rs AS (
        SELECT DISTINCT a.sensor_id FROM k
        JOIN sensor_assignment a ON a.room_id = k.room_id
        JOIN sensor se ON se.id = a.sensor_id AND se.sensor_type_id = k.sensor_type_id
    )"""

# The window is (start, end]. count/mean/min/max pool every capture of the room's sensors of the
# type. Time-weighted mean: per sensor, each capture holds its value until that sensor's next
# capture in this room, the window end, or the sensor's next assignment change (a move), whichever
# comes first; the sensor's last capture in this room at or before `start` carries to `start`.
# The room's value is the plain mean of the per-sensor means of the sensors with a capture in the
# window (held time 0: left out). A move is a `cut` row without a value: it ends the segment
# before it and holds nothing itself. Order within a time: carry-in, cut, capture (a capture at
# the instant of a move belongs to the room the sensor moved to). One text for both ways of
# naming room and sensor type: {keys} is a CTE `k` with room_id, sensor_type_id, key and unit.
_WINDOW_OF_KEYS = """
    WITH {keys},{room_sensors},
    w AS (
        SELECT c.sensor_id, c.ts, c.value FROM k CROSS JOIN rs JOIN capture c
          ON c.room_id = k.room_id AND c.sensor_id = rs.sensor_id
        WHERE c.ts > :start AND c.ts <= :end
    ),
    prev AS (  -- LATERAL + LIMIT: one backward index step per sensor, not a sort of its history
        SELECT rs.sensor_id, p.ts, p.value FROM k CROSS JOIN rs CROSS JOIN LATERAL (
            SELECT c.ts, c.value FROM capture c
            WHERE c.room_id = k.room_id AND c.sensor_id = rs.sensor_id AND c.ts <= :start
            ORDER BY c.ts DESC LIMIT 1
        ) AS p
    ),
    cut AS (  -- moves that can end a held stretch: after the carried capture, up to the end
        SELECT a.sensor_id, GREATEST(a.valid_from, CAST(:start AS timestamptz)) AS t0
        FROM rs JOIN sensor_assignment a ON a.sensor_id = rs.sensor_id
        LEFT JOIN prev ON prev.sensor_id = rs.sensor_id
        WHERE a.valid_from <= :end
          AND a.valid_from > COALESCE(prev.ts, CAST(:start AS timestamptz))
    ),
    seg AS (
        SELECT sensor_id, value,
               CAST(EXTRACT(EPOCH FROM COALESCE(
                   LEAD(t0) OVER (PARTITION BY sensor_id ORDER BY t0, o), :end) - t0)
                    AS double precision) AS held
        FROM (
            SELECT sensor_id, ts AS t0, 2 AS o, value FROM w
            UNION ALL SELECT sensor_id, CAST(:start AS timestamptz), 0, value FROM prev
            UNION ALL SELECT sensor_id, t0, 1, CAST(NULL AS double precision) FROM cut
        ) AS p
    ),
    per AS (
        SELECT SUM(value * held) / NULLIF(SUM(held) FILTER (WHERE value IS NOT NULL), 0) AS twm
        FROM seg WHERE sensor_id IN (SELECT sensor_id FROM w) GROUP BY sensor_id
    )
    SELECT k.key, k.unit, agg.n, agg.mean, agg.lo, agg.hi,
           CASE WHEN agg.n > 0 THEN (SELECT AVG(twm) FROM per) END AS twm,
           agg.sensors
    FROM k CROSS JOIN (
        SELECT COUNT(*) AS n, AVG(value) AS mean, MIN(value) AS lo, MAX(value) AS hi,
               COUNT(DISTINCT sensor_id) AS sensors FROM w
    ) AS agg
"""

# Room and sensor type given by id (key and unit are not needed).
_WINDOW = text(
    _WINDOW_OF_KEYS.format(
        room_sensors=ROOM_SENSORS,
        keys="""k AS (
        SELECT CAST(:room_id AS integer) AS room_id,
               CAST(:sensor_type_id AS smallint) AS sensor_type_id,
               CAST(NULL AS text) AS key, CAST(NULL AS text) AS unit
    )""",
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
        room_sensors=ROOM_SENSORS,
        keys="""k AS (
        SELECT r.id AS room_id, st.id AS sensor_type_id, st.key, st.unit
        FROM room r JOIN building b ON b.id = r.building_id
        CROSS JOIN sensor_type st
        WHERE b.key = :building AND r.key = :room AND st.key = :sensor_type
    )""",
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
    sensors: int = 0


# The points first, first + step, … last of a series.
_POINTS = """generate_series(CAST(:first AS timestamptz), CAST(:last AS timestamptz),
                         CAST(:step AS interval)) AS p(t)"""

# Room and sensor type by id, and the room's sensors of the type (ROOM_SENSORS).
_SERIES_KEYS = (
    """WITH k AS (
        SELECT CAST(:room_id AS integer) AS room_id,
               CAST(:sensor_type_id AS smallint) AS sensor_type_id
    ),"""
    + ROOM_SENSORS
)


def _window_per_point(aggregates: str, source: str, ts: str) -> str:
    """One rolling window (t - window, t] per point t over `source` (aliased), `ts` its time:
    `aggregates` (n, s, lo, hi) per sensor of the room, then pooled over the sensors."""
    alias = source.split()[-1]
    return f"""
    {_SERIES_KEYS}
    SELECT p.t, COALESCE(x.n, 0), x.s / x.n, x.lo, x.hi, x.sensors
    FROM {_POINTS}
    CROSS JOIN LATERAL (  -- one row per point, also for a room without sensors
        SELECT CAST(SUM(y.n) AS bigint) AS n, SUM(y.s) AS s, MIN(y.lo) AS lo, MAX(y.hi) AS hi,
               COUNT(*) FILTER (WHERE y.n > 0) AS sensors
        FROM rs CROSS JOIN LATERAL (
            SELECT {aggregates}
            FROM {source}
            WHERE {alias}.room_id = :room_id AND {alias}.sensor_id = rs.sensor_id
              AND {ts} > p.t - CAST(:window AS interval) AND {ts} <= p.t
        ) AS y
    ) AS x
    ORDER BY p.t
    """  # noqa: S608 - fixed fragments; values are bound


# From the raw captures: each window is one index range scan per sensor.
_SERIES = text(
    _window_per_point(
        "COUNT(*) AS n, SUM(value) AS s, MIN(value) AS lo, MAX(value) AS hi",
        "capture c",
        "c.ts",
    )
)


# The same series from the rollup tables, for a step and window that are multiples of the bucket
# (points are multiples of step since the epoch, so each window is a union of whole buckets).
def _rollup_series(table: str) -> str:
    return _window_per_point(
        "SUM(r.count) AS n, SUM(r.sum) AS s, MIN(r.min) AS lo, MAX(r.max) AS hi",
        f"{table} r",
        "r.bucket",
    )


# When the window is one bucket, each point is the bucket ending at it: one range scan per
# sensor, pooled per bucket (a rollup row exists only for a sensor with captures in it).
_BUCKET_SERIES = """
    {keys}
    SELECT p.t, COALESCE(r.n, 0), r.s / r.n, r.lo, r.hi, COALESCE(r.sensors, 0)
    FROM {points}
    LEFT JOIN (
        SELECT bucket, CAST(SUM(count) AS bigint) AS n, SUM(sum) AS s,
               MIN(min) AS lo, MAX(max) AS hi,
               COUNT(*) AS sensors
        FROM {table}
        WHERE room_id = :room_id AND sensor_id IN (SELECT sensor_id FROM rs)
          AND bucket >= CAST(:first AS timestamptz) AND bucket <= CAST(:last AS timestamptz)
        GROUP BY bucket
    ) AS r ON r.bucket = p.t
    ORDER BY p.t
"""
SERIES_15M = text(_rollup_series("capture_rollup_15m"))
SERIES_1H = text(_rollup_series("capture_rollup_1h"))
ROLLUP_SERIES = {timedelta(hours=1): SERIES_1H, timedelta(minutes=15): SERIES_15M}
BUCKET_SERIES = {
    timedelta(hours=1): text(
        _BUCKET_SERIES.format(keys=_SERIES_KEYS, points=_POINTS, table="capture_rollup_1h")
    ),
    timedelta(minutes=15): text(
        _BUCKET_SERIES.format(keys=_SERIES_KEYS, points=_POINTS, table="capture_rollup_15m")
    ),
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
    sensors: int = 0


# Per room: its sensors of the type (assignment history), per sensor the window's aggregates and
# newest capture at or before the end (index range scans on (room, sensor, ts)), then pooled.
_OVERVIEW = text(
    """
    WITH rs AS (
        SELECT DISTINCT a.room_id, a.sensor_id
        FROM room r
        JOIN sensor_assignment a ON a.room_id = r.id
        JOIN sensor se ON se.id = a.sensor_id AND se.sensor_type_id = :sensor_type_id
        WHERE r.building_id = :building_id
    ),
    per AS (
        SELECT rs.room_id, a.n, a.s, a.lo, a.hi, l.last_ts
        FROM rs
        CROSS JOIN LATERAL (
            SELECT COUNT(*) AS n, SUM(value) AS s, MIN(value) AS lo, MAX(value) AS hi
            FROM capture c
            WHERE c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id
              AND c.ts > :start AND c.ts <= :end
        ) AS a
        CROSS JOIN LATERAL (
            SELECT MAX(c.ts) AS last_ts FROM capture c
            WHERE c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id AND c.ts <= :end
        ) AS l
    )
    SELECT r.key, CAST(COALESCE(SUM(per.n), 0) AS bigint), SUM(per.s) / SUM(per.n),
           MIN(per.lo), MAX(per.hi),
           MAX(per.last_ts), COUNT(*) FILTER (WHERE per.n > 0)
    FROM room r
    LEFT JOIN per ON per.room_id = r.id
    WHERE r.building_id = :building_id
    GROUP BY r.id, r.key
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
