"""SQL for rolling-window statistics. Every average is computed by PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import TextClause, text
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
        SELECT DISTINCT a.room_id, a.sensor_id FROM k
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
# the instant of a move belongs to the room the sensor moved to). {keys} is a CTE `k` with
# room_id, sensor_type_id, key and unit;
# {room_id} the same room as an expression: capture is filtered by it directly (not through k),
# so that on Citus, where capture is distributed by room_id, the statement is a router query
# (one shard, full SQL: CTEs, LATERAL with LIMIT).
_WINDOW_OF_KEYS = """
    WITH {keys},{room_sensors},
    w AS (  -- sensor_id = ANY: one index descent per sensor, no join
        SELECT c.sensor_id, c.ts, c.value FROM capture c
        WHERE c.room_id = {room_id}
          AND c.sensor_id = ANY(ARRAY(SELECT sensor_id FROM rs))
          AND c.ts > :start AND c.ts <= :end
    ),
    prev AS (  -- LATERAL + LIMIT: one backward index step per sensor, not a sort of its history
        SELECT rs.sensor_id, p.ts, p.value FROM rs CROSS JOIN LATERAL (
            SELECT c.ts, c.value FROM capture c
            WHERE c.room_id = {room_id} AND c.sensor_id = rs.sensor_id AND c.ts <= :start
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
        SELECT sensor_id, value, o,
               CAST(EXTRACT(EPOCH FROM COALESCE(
                   LEAD(t0) OVER (PARTITION BY sensor_id ORDER BY t0, o), :end) - t0)
                    AS double precision) AS held
        FROM (
            SELECT sensor_id, ts AS t0, 2 AS o, value FROM w
            UNION ALL SELECT sensor_id, CAST(:start AS timestamptz), 0, value FROM prev
            UNION ALL SELECT sensor_id, t0, 1, CAST(NULL AS double precision) FROM cut
        ) AS p
    ),
    per AS (  -- the sensors with a capture in the window (o = 2) and their own means
        SELECT SUM(value * held) / NULLIF(SUM(held) FILTER (WHERE value IS NOT NULL), 0) AS twm
        FROM seg GROUP BY sensor_id HAVING bool_or(o = 2)
    )
    SELECT k.key, k.unit, agg.n, agg.mean, agg.lo, agg.hi,
           CASE WHEN agg.n > 0 THEN t.twm END AS twm,
           t.sensors
    FROM k CROSS JOIN (
        SELECT COUNT(*) AS n, AVG(value) AS mean, MIN(value) AS lo, MAX(value) AS hi FROM w
    ) AS agg
    CROSS JOIN (SELECT AVG(twm) AS twm, COUNT(*) AS sensors FROM per) AS t
"""

# Room and sensor type given by id (key and unit are not needed).
_WINDOW = text(
    _WINDOW_OF_KEYS.format(
        room_id="CAST(:room_id AS integer)",
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
    # The dashboards' hottest statement: straight on the driver (db/driver.py says why).
    row = await driver.fetch_one(
        conn,
        _WINDOW,
        {"room_id": room_id, "sensor_type_id": sensor_type_id, "start": start, "end": end},
        name="select latest_window",
    )
    assert row is not None  # one row: the aggregates over k
    return WindowStats(*row[2:])


@dataclass(frozen=True)
class RoomKeys:
    """A room and sensor type resolved from their keys, with the raw horizon read alongside."""

    room_id: int
    sensor_type_id: int
    sensor_type_key: str
    sensor_type_unit: str
    raw_from: datetime | None  # retention dropped raw captures before this (None: none dropped)


# Reference tables only (one node on Citus). The raw horizon comes with the keys: a rolling window
# must not reach before it (average/service.py), and reading it here saves a round trip per read.
_ROOM_KEYS = text(
    """
    SELECT r.id, st.id, st.key, st.unit,
           (SELECT h.dropped_before FROM retention_horizon h WHERE h.level = 'raw')
    FROM room r JOIN building b ON b.id = r.building_id
    CROSS JOIN sensor_type st
    WHERE b.key = :building AND r.key = :room AND st.key = :sensor_type
    """
)


async def select_room_keys(
    conn: AsyncConnection, building: str, room: str, sensor_type: str
) -> RoomKeys | None:
    """The ids of a room and a sensor type given by keys, and the raw horizon; None when either
    key is unknown. The window is then read by ids: a router query on Citus (_WINDOW_OF_KEYS)."""
    row = await driver.fetch_one(
        conn,
        _ROOM_KEYS,
        {"building": building, "room": room, "sensor_type": sensor_type},
        name="select latest_window keys",
    )
    return None if row is None else RoomKeys(*row)


@dataclass(frozen=True)
class BuildingKeys:
    """A building and sensor type resolved from their keys, with the raw horizon."""

    building_id: int
    sensor_type_id: int
    sensor_type_key: str
    sensor_type_unit: str
    raw_from: datetime | None


_BUILDING_KEYS = text(
    """
    SELECT b.id, st.id, st.key, st.unit,
           (SELECT h.dropped_before FROM retention_horizon h WHERE h.level = 'raw')
    FROM building b CROSS JOIN sensor_type st
    WHERE b.key = :building AND st.key = :sensor_type
    """
)


async def select_building_keys(
    conn: AsyncConnection, building: str, sensor_type: str
) -> BuildingKeys | None:
    """As select_room_keys, for a building (the overview); None when either key is unknown."""
    row = await driver.fetch_one(
        conn,
        _BUILDING_KEYS,
        {"building": building, "sensor_type": sensor_type},
        name="select overview keys",
    )
    return None if row is None else BuildingKeys(*row)


# Slotted, not frozen: a 30-day series builds 2,880 of them (a frozen dataclass' __init__ costs
# about ten times as much); orjson writes them as they are (routes.py).
@dataclass(slots=True)
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

# The (room, sensor) pairs `rs` a series reads: a room's sensors of a type (room and sensor type
# by id, ROOM_SENSORS), or one sensor in every room it has been in.
_SERIES_KEYS = (
    """WITH k AS (
        SELECT CAST(:room_id AS integer) AS room_id,
               CAST(:sensor_type_id AS smallint) AS sensor_type_id
    ),"""
    + ROOM_SENSORS
)
# One sensor in each room it has been in: a FROM fragment over `room_sensor rs` (the rooms from
# the assignment history, a reference table, in an InitPlan; the pairs then by primary key). The
# sensor's own reads start from it: on Citus room_sensor is distributed and co-located with
# capture, so the per-room reads correlated with it on room_id are pushed down to the shards.
SENSOR_PAIRS = """(SELECT rs.room_id, rs.sensor_id FROM room_sensor rs
          WHERE rs.room_id = ANY(ARRAY(SELECT room_id FROM sensor_assignment
                                       WHERE sensor_id = CAST(:sensor_id AS integer)))
            AND rs.sensor_id = CAST(:sensor_id AS integer)) AS rs"""


def _window_per_point(aggregates: str, source: str, ts: str, keys: str) -> str:
    """One rolling window (t - window, t] per point t over `source` (aliased), `ts` its time.

    A room: one lateral per point over the room's sensors (`sensor_id = ANY`: one index descent
    per sensor, no join per point); capture is filtered by the room id directly, so on Citus
    it is a router query. One sensor: per room it has been in and point, pooled per point (on
    Citus pushed down per room and combined); only points with a room come back (select_series
    adds the rest)."""
    alias = source.split()[-1]
    if keys == SENSOR_PAIRS:
        return f"""
    SELECT p.t, CAST(SUM(x.n) AS bigint), SUM(x.s) / NULLIF(SUM(x.n), 0), MIN(x.lo), MAX(x.hi),
           CASE WHEN SUM(x.n) > 0 THEN 1 ELSE 0 END
    FROM {keys}
    CROSS JOIN {_POINTS}
    CROSS JOIN LATERAL (  -- grouped by room_id: Citus refuses an ungrouped aggregate in a
        SELECT {aggregates}  -- lateral referencing a function (the points); an empty window
        FROM {source}        -- is then no row
        WHERE {alias}.room_id = rs.room_id AND {alias}.sensor_id = rs.sensor_id
          AND {ts} > p.t - CAST(:window AS interval) AND {ts} <= p.t
        GROUP BY {alias}.room_id
    ) AS x
    GROUP BY p.t
    ORDER BY p.t
    """  # noqa: S608 - fixed fragments; values are bound
    ids = "ids AS (SELECT array_agg(sensor_id) AS a FROM rs)"
    match = f"{alias}.room_id = :room_id AND {alias}.sensor_id = ANY(ids.a)"
    return f"""
    {keys}, {ids}
    SELECT p.t, COALESCE(x.n, 0), x.s / x.n, x.lo, x.hi, x.sensors
    FROM {_POINTS}
    CROSS JOIN ids
    CROSS JOIN LATERAL (
        SELECT {aggregates}, COUNT(DISTINCT {alias}.sensor_id) AS sensors
        FROM {source}
        WHERE {match}
          AND {ts} > p.t - CAST(:window AS interval) AND {ts} <= p.t
    ) AS x
    ORDER BY p.t
    """  # noqa: S608 - fixed fragments; values are bound


# From the raw captures: each window is one index range scan per sensor.
def _raw_series(keys: str) -> str:
    return _window_per_point(
        "CAST(COUNT(*) AS bigint) AS n, SUM(value) AS s, MIN(value) AS lo, MAX(value) AS hi",
        "capture c",
        "c.ts",
        keys,
    )


# The same series from the rollup tables, for a step and window that are multiples of the bucket
# (points are multiples of step since the epoch, so each window is a union of whole buckets).
def _rollup_series(table: str, keys: str) -> str:
    return _window_per_point(
        "CAST(SUM(r.count) AS bigint) AS n, SUM(r.sum) AS s, MIN(r.min) AS lo, MAX(r.max) AS hi",
        f"{table} r",
        "r.bucket",
        keys,
    )


# When the window is one bucket, each point is the bucket ending at it: one range scan per
# sensor, pooled per bucket (a rollup row exists only for a sensor with captures in it). Only the
# buckets with captures come back; select_series adds the empty points. Joining the points here
# (generate_series) made PostgreSQL estimate 1,000 points for the generic plan of the
# prepared statement, 3x the cost of a custom plan, so it planned every call again
# (+0.4 ms, bench/ab_sql.py).
_BUCKET_SERIES = """
    {keys}
    SELECT bucket, CAST(SUM(count) AS bigint), SUM(sum) / SUM(count), MIN(min), MAX(max),
           {sensors}
    FROM {table}
    WHERE room_id = CAST(:room_id AS integer)  -- the room directly: a router query on Citus
      AND (room_id, sensor_id) IN (SELECT room_id, sensor_id FROM rs)
      AND bucket >= CAST(:first AS timestamptz) AND bucket <= CAST(:last AS timestamptz)
    GROUP BY bucket
    ORDER BY bucket
"""
# One sensor: its rows of every room it has been in (one per room and bucket), joined with the
# pairs on room_id (pushed down on Citus, combined per bucket).
_SENSOR_BUCKET_SERIES = """
    SELECT x.bucket, CAST(SUM(x.count) AS bigint), SUM(x.sum) / SUM(x.count), MIN(x.min),
           MAX(x.max), 1
    FROM {keys}
    JOIN {table} x ON x.room_id = rs.room_id AND x.sensor_id = rs.sensor_id
    WHERE x.bucket >= CAST(:first AS timestamptz) AND x.bucket <= CAST(:last AS timestamptz)
    GROUP BY x.bucket
    ORDER BY x.bucket
"""
# Rolling windows (t - window, t] read only the end-keyed 15-minute rollups: the 1-hour and 1-day
# pieces are left-closed (migration 0009), for buckets [t, t + step) and period reports.
_BUCKET_TABLES = {
    timedelta(minutes=15): "capture_rollup_15m",
}


@dataclass(frozen=True)
class SeriesStatements:
    """The series statements over one kind of (room, sensor) pairs."""

    raw: TextClause
    rollup: dict[timedelta, TextClause]  # by bucket, widest first
    bucket: dict[timedelta, TextClause]


def _statements(keys: str) -> SeriesStatements:
    bucket_series = _BUCKET_SERIES if keys == _SERIES_KEYS else _SENSOR_BUCKET_SERIES
    return SeriesStatements(
        raw=text(_raw_series(keys)),
        rollup={b: text(_rollup_series(t, keys)) for b, t in _BUCKET_TABLES.items()},
        bucket={
            b: text(bucket_series.format(keys=keys, table=t, sensors="COUNT(*)"))
            for b, t in _BUCKET_TABLES.items()
        },
    )


ROOM_SERIES = _statements(_SERIES_KEYS)
SENSOR_SERIES = _statements(SENSOR_PAIRS)
# The rolling-window rollup statements of a room by name (bench/run.py times them).
_SERIES = ROOM_SERIES.raw
SERIES_15M = ROOM_SERIES.rollup[timedelta(minutes=15)]


def rollup_bucket(step: timedelta, window: timedelta) -> timedelta | None:
    """The widest rollup bucket that both step and window are multiples of, if any."""
    for bucket in _BUCKET_TABLES:  # widest first
        if step % bucket == timedelta(0) and window % bucket == timedelta(0):
            return bucket
    return None


async def select_series(
    conn: AsyncConnection,
    room_id: int | None,
    sensor_type_id: int,
    *,
    first: datetime,
    last: datetime,
    step: timedelta,
    window: timedelta,
    bucket: timedelta | None,
    sensor_id: int | None = None,
) -> list[SeriesPoint]:
    """The points first, first + step, … last; from the raw captures, or from the rollups of
    `bucket` (see rollup_bucket). A room's sensors of the type pooled, or (`sensor_id`) one
    sensor in every room it has been in."""
    statements = ROOM_SERIES if sensor_id is None else SENSOR_SERIES
    one_bucket = bucket is not None and window == bucket
    if bucket is None:
        query = statements.raw
    else:
        query = statements.bucket[bucket] if one_bucket else statements.rollup[bucket]
    # The series statements all take the same parameters.
    # The dashboards' series, hundreds a second: on the driver (db/driver.py says why).
    rows = await driver.fetch_all(
        conn,
        query,
        {
            "room_id": room_id,
            "sensor_type_id": sensor_type_id,
            "sensor_id": sensor_id,
            "first": first,
            "last": last,
            "step": step,
            "window": window,
        },
        name="select series",
    )
    if not one_bucket and sensor_id is None:
        return [SeriesPoint(*r) for r in rows]
    # One bucket per point: only buckets with captures came back; a sensor's series: only
    # points with a room of the sensor. The rest are empty points.
    # Rows come in time order (ORDER BY): one merge pass, no dict of aware datetimes (hashing
    # 2,880 of them cost more than building the points).
    points = []
    found = iter(rows)
    row = next(found, None)
    t = first
    while t <= last:
        while row is not None and row[0] < t:
            row = next(found, None)
        if row is not None and row[0] == t:
            points.append(SeriesPoint(*row))
        else:
            points.append(SeriesPoint(t, 0, None, None, None, 0))
        t += step
    return points
