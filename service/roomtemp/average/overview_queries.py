"""SQL for the rooms' window statistics side by side: the building overview (one building, one
sensor type, every room) and the live streams' round (rooms by id, every sensor type). The
single-room window and the series are in queries.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import driver


@dataclass(frozen=True)
class RoomWindowStats:
    room: str
    count: int
    mean: float | None
    min: float | None
    max: float | None
    last_ts: datetime | None
    sensors: int = 0


# Per (room, sensor) pair: the window's aggregates (one index range scan on (room, sensor, ts))
# and the newest capture at or before the end: the window's newest capture, or for an empty
# window the one before it (one backward index step, only then). {pairs} is a FROM fragment of
# `room_sensor rs` joined with the reference tables that pick the pairs; on Citus both laterals
# are correlated with room_sensor, distributed and co-located with capture, on room_id, so the
# statement is pushed down to the shards (a lateral LIMIT or aggregate over a CTE of reference
# tables is refused there). {where} filters the pairs, {extra} are columns of them kept and {by}
# their GROUP BY; grouped by rs.room_id (the distribution column), each room pools its sensors on
# its own shard.
_PER_SENSOR = """
    per AS (
        SELECT rs.room_id{extra}, CAST(COALESCE(SUM(a.n), 0) AS bigint) AS n, SUM(a.s) AS s,
               MIN(a.lo) AS lo, MAX(a.hi) AS hi, MAX(COALESCE(a.last_ts, l.ts)) AS last_ts,
               COUNT(*) FILTER (WHERE a.n > 0) AS sensors
        FROM {pairs}
        CROSS JOIN LATERAL (
            SELECT COUNT(*) AS n, SUM(c.value) AS s, MIN(c.value) AS lo, MAX(c.value) AS hi,
                   MAX(c.ts) AS last_ts
            FROM capture c
            WHERE c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id
              AND c.ts > :start AND c.ts <= :end
        ) AS a
        LEFT JOIN LATERAL (  -- a.n = 0 only: a one-time filter, no index step otherwise
            SELECT c.ts FROM capture c
            WHERE a.n = 0
              AND c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id AND c.ts <= :start
            ORDER BY c.ts DESC LIMIT 1
        ) AS l ON true
        {where}
        GROUP BY rs.room_id{by}
    )"""

# Per room of the building: its sensors of the type (every pair an assignment made), pooled.
# Rooms without such a sensor are answered too (count 0).
_OVERVIEW = text(
    "WITH"  # noqa: S608 - fixed fragments; values are bound
    + _PER_SENSOR.format(
        extra="",
        by="",
        where="",
        pairs="""room_sensor rs
        JOIN room rr ON rr.id = rs.room_id AND rr.building_id = :building_id
        JOIN sensor se ON se.id = rs.sensor_id AND se.sensor_type_id = :sensor_type_id""",
    )
    + """
    SELECT r.key, COALESCE(per.n, 0), per.s / per.n, per.lo, per.hi, per.last_ts,
           COALESCE(per.sensors, 0)
    FROM room r
    LEFT JOIN per ON per.room_id = r.id
    WHERE r.building_id = :building_id
    ORDER BY r.key
    """
)


async def select_building_window_stats(
    conn: AsyncConnection, building_id: int, sensor_type_id: int, start: datetime, end: datetime
) -> list[RoomWindowStats]:
    # The dashboards' overview, every few seconds per screen: on the driver (db/driver.py).
    rows = await driver.fetch_all(
        conn,
        _OVERVIEW,
        {"building_id": building_id, "sensor_type_id": sensor_type_id, "start": start, "end": end},
        name="select overview",
    )
    return [RoomWindowStats(*r) for r in rows]


@dataclass(frozen=True)
class KeyedRoomStats:
    room_id: int
    building: str
    sensor_type: str
    unit: str  # canonical
    stats: RoomWindowStats


# The overview's statistics (above) for a set of rooms given by id, every sensor type at once
# (or those of :sensor_type_ids), only rooms of :building_ids if given (the buildings someone
# watches): the live streams' one statement per fan-out round.
_ROOMS_OVERVIEW = text(
    "WITH"  # noqa: S608 - fixed fragments; values are bound
    + _PER_SENSOR.format(
        extra=", se.sensor_type_id",
        by=", se.sensor_type_id",
        pairs="""room_sensor rs
        JOIN sensor se ON se.id = rs.sensor_id
        JOIN room rr ON rr.id = rs.room_id""",
        where="""WHERE rs.room_id = ANY(CAST(:room_ids AS integer[]))
          AND (CAST(:building_ids AS integer[]) IS NULL
               OR rr.building_id = ANY(CAST(:building_ids AS integer[])))
          AND (CAST(:sensor_type_ids AS smallint[]) IS NULL
               OR se.sensor_type_id = ANY(CAST(:sensor_type_ids AS smallint[])))""",
    )
    + """
    SELECT r.id, b.key, st.key, st.unit, r.key, per.n, per.s / NULLIF(per.n, 0),
           per.lo, per.hi, per.last_ts, per.sensors
    FROM per
    JOIN room r ON r.id = per.room_id
    JOIN building b ON b.id = r.building_id
    JOIN sensor_type st ON st.id = per.sensor_type_id
    ORDER BY b.key, r.key, st.key
    """
)


async def select_rooms_window_stats(
    conn: AsyncConnection,
    room_ids: list[int],
    sensor_type_ids: list[int] | None,
    start: datetime,
    end: datetime,
    building_ids: list[int] | None = None,
) -> list[KeyedRoomStats]:
    rows = await conn.execute(
        _ROOMS_OVERVIEW,
        {
            "room_ids": room_ids,
            "sensor_type_ids": sensor_type_ids,
            "building_ids": building_ids,
            "start": start,
            "end": end,
        },
    )
    return [KeyedRoomStats(r[0], r[1], r[2], r[3], RoomWindowStats(*r[4:])) for r in rows]
