"""SQL for the sensor registry: sensors, their assignments, status, unknown keys, fleet health."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import arrays, room_sensors


@dataclass(frozen=True)
class SensorRow:
    id: int
    key: str  # a default sensor's computed "{building}/{room}/{sensor_type}"
    default: bool
    sensor_type: str
    building: str  # where it is now (its latest assignment that has begun)
    room: str
    room_id: int
    name: str
    created_at: datetime
    retired_at: datetime | None
    last_capture_at: datetime | None
    battery: float | None
    signal: float | None
    status_at: datetime | None


# One row per sensor with its current room and fleet health. The newest capture is looked up per
# room the sensor was ever assigned to, each a backward scan of the capture primary key
# (room_id, sensor_id, ts): a few index probes per sensor, whatever the number of captures. The
# probes start from room_sensor, not from a correlated subquery per listed sensor: on Citus that
# join is pushed down to the shards (a lateral correlated with a distributed table on room_id),
# and the rest of the statement joins its result with reference tables.
# {pairs}, {inner} and {where} are fixed fragments chosen by the caller.
_SENSORS = """
    SELECT * FROM (
        SELECT s.id, coalesce(s.key, b.key || '/' || r.key || '/' || st.key) AS key,
               s.key IS NULL AS is_default, st.key AS sensor_type, b.key AS building,
               r.key AS room, r.id AS room_id, s.name, s.created_at, s.retired_at,
               lc.newest AS last_capture_at,
               ss.battery, ss.signal, ss.reported_at AS status_at
        FROM sensor s
        JOIN sensor_type st ON st.id = s.sensor_type_id
        CROSS JOIN LATERAL (
            SELECT a.room_id FROM sensor_assignment a
            WHERE a.sensor_id = s.id AND a.valid_from <= CAST(:now AS timestamptz)
            ORDER BY a.valid_from DESC LIMIT 1
        ) AS cur
        JOIN room r ON r.id = cur.room_id
        JOIN building b ON b.id = r.building_id
        LEFT JOIN sensor_status ss ON ss.sensor_id = s.id
        LEFT JOIN (
            SELECT rs.sensor_id, max(p.ts) AS newest
            FROM room_sensor rs CROSS JOIN LATERAL (
                SELECT c.ts FROM capture c
                WHERE c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id
                ORDER BY c.ts DESC LIMIT 1
            ) AS p
            {pairs}
            GROUP BY rs.sensor_id
        ) AS lc ON lc.sensor_id = s.id
        {inner}
    ) AS listed
    {where}
"""


@dataclass(frozen=True)
class SensorFilter:
    building: str | None = None
    room: str | None = None
    sensor_type: str | None = None
    silent_before: datetime | None = None  # no capture (or creation) at or after this
    include_retired: bool = False
    #: Only sensors that were never in a room outside these buildings (a scoped token).
    buildings: Sequence[str] | None = None


_PAGE_WHERE = """
    WHERE (CAST(:after AS text) IS NULL OR key > CAST(:after AS text))
      AND (CAST(:building AS text) IS NULL OR building = CAST(:building AS text))
      AND (CAST(:room AS text) IS NULL OR room = CAST(:room AS text))
      AND (CAST(:sensor_type AS text) IS NULL OR sensor_type = CAST(:sensor_type AS text))
      AND (CAST(:include_retired AS boolean) OR retired_at IS NULL)
      AND (CAST(:silent_before AS timestamptz) IS NULL
           OR coalesce(last_capture_at, created_at) < CAST(:silent_before AS timestamptz))
      AND (CAST(:buildings AS text[]) IS NULL OR NOT EXISTS (
           SELECT 1 FROM sensor_assignment a
           JOIN room ar ON ar.id = a.room_id JOIN building ab ON ab.id = ar.building_id
           WHERE a.sensor_id = listed.id AND ab.key <> ALL (CAST(:buildings AS text[]))))
    ORDER BY key
    LIMIT :limit
"""
_SELECT_PAGE = text(_SENSORS.format(pairs="", inner="", where=_PAGE_WHERE))
_SELECT_ONE = text(
    _SENSORS.format(pairs="WHERE rs.sensor_id = :id", inner="WHERE s.id = :id", where="")
)


def _row(r: Sequence[object]) -> SensorRow:
    return SensorRow(*r)  # type: ignore[arg-type]


async def select_sensors_page(
    conn: AsyncConnection, now: datetime, f: SensorFilter, after: str | None, limit: int
) -> list[SensorRow]:
    rows = await conn.execute(
        _SELECT_PAGE,
        {
            "now": now,
            "after": after,
            "building": f.building,
            "room": f.room,
            "sensor_type": f.sensor_type,
            "include_retired": f.include_retired,
            "silent_before": f.silent_before,
            "buildings": None if f.buildings is None else list(f.buildings),
            "limit": limit,
        },
    )
    return [_row(r) for r in rows]


async def select_sensor(conn: AsyncConnection, now: datetime, sensor_id: int) -> SensorRow | None:
    row = (await conn.execute(_SELECT_ONE, {"now": now, "id": sensor_id})).one_or_none()
    return None if row is None else _row(row)


async def select_registered_id(conn: AsyncConnection, key: str) -> int | None:
    found = await conn.scalar(text("SELECT id FROM sensor WHERE key = :key"), {"key": key})
    return None if found is None else int(found)


async def select_default_id(
    conn: AsyncConnection, building: str, room: str, sensor_type: str
) -> int | None:
    found = await conn.scalar(
        text(
            "SELECT s.id FROM sensor s"
            " JOIN room r ON r.id = s.default_room_id"
            " JOIN building b ON b.id = r.building_id"
            " JOIN sensor_type st ON st.id = s.sensor_type_id"
            " WHERE b.key = :b AND r.key = :r AND st.key = :t"
        ),
        {"b": building, "r": room, "t": sensor_type},
    )
    return None if found is None else int(found)


async def select_existing_keys(conn: AsyncConnection, keys: Sequence[str]) -> list[str]:
    rows = await conn.execute(
        text("SELECT key FROM sensor WHERE key = ANY(CAST(:keys AS text[])) ORDER BY key"),
        {"keys": list(keys)},
    )
    return [k for (k,) in rows]


async def insert_sensors(
    conn: AsyncConnection,
    keys: Sequence[str],
    sensor_type_ids: Sequence[int],
    names: Sequence[str],
    room_ids: Sequence[int],
    now: datetime,
) -> int:
    """Register sensors, each assigned to its room from the beginning of time ('-infinity'), and
    drop their keys from the unknown list. Returns how many were inserted (a key registered
    concurrently is skipped, and the caller refuses the batch)."""
    inserted = await conn.execute(
        text(
            "INSERT INTO sensor (key, sensor_type_id, name, created_at)"
            " SELECT k, t, n, :now FROM unnest(CAST(:keys AS text[]), CAST(:types AS smallint[]),"
            " CAST(:names AS text[])) AS i(k, t, n) ORDER BY k"
            " ON CONFLICT (key) DO NOTHING RETURNING id, key"
        ),
        {"keys": list(keys), "types": list(sensor_type_ids), "names": list(names), "now": now},
    )
    ids = {key: sensor_id for sensor_id, key in inserted}
    room_of = dict(zip(keys, room_ids, strict=True))
    if ids:
        await conn.execute(
            text(
                "INSERT INTO sensor_assignment (sensor_id, valid_from, room_id)"
                " SELECT s, CAST('-infinity' AS timestamptz), r"
                " FROM unnest(CAST(:ids AS integer[]), CAST(:rooms AS integer[])) AS i(s, r)"
            ),
            {
                "ids": arrays.int_literal(ids.values()),
                "rooms": arrays.int_literal(room_of[k] for k in ids),
            },
        )
        await room_sensors.record(conn, ((room_of[k], i) for k, i in ids.items()))
    await conn.execute(
        text("DELETE FROM unknown_sensor WHERE key = ANY(CAST(:keys AS text[]))"),
        {"keys": list(keys)},
    )
    return len(ids)


async def update_name(conn: AsyncConnection, sensor_id: int, name: str) -> None:
    await conn.execute(
        text("UPDATE sensor SET name = :name WHERE id = :id"), {"id": sensor_id, "name": name}
    )


# One probe of the capture primary key (room_id, sensor_id, ts) per room the sensor was ever in.
# The probes start from room_sensor, not from sensor_assignment in a correlated EXISTS: Citus
# pushes a lateral correlated with a distributed table on room_id down to the shards, and refuses
# a correlated subquery beside a reference table.
_HAS_CAPTURES = text(
    "SELECT 1 FROM room_sensor rs CROSS JOIN LATERAL ("
    " SELECT 1 FROM capture c WHERE c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id LIMIT 1"
    ") AS p WHERE rs.sensor_id = :id LIMIT 1"
)


async def has_captures(conn: AsyncConnection, sensor_id: int) -> bool:
    return await conn.scalar(_HAS_CAPTURES, {"id": sensor_id}) is not None


async def assigned_building_keys(conn: AsyncConnection, sensor_id: int) -> list[str]:
    """The keys of every building the sensor has been in (its assignments)."""
    rows = await conn.execute(
        text(
            "SELECT DISTINCT b.key FROM sensor_assignment a JOIN room r ON r.id = a.room_id"
            " JOIN building b ON b.id = r.building_id WHERE a.sensor_id = :id"
        ),
        {"id": sensor_id},
    )
    return [r for (r,) in rows]


async def assigned_room_ids(conn: AsyncConnection, sensor_id: int) -> list[int]:
    rows = await conn.execute(
        text("SELECT DISTINCT room_id FROM sensor_assignment WHERE sensor_id = :id"),
        {"id": sensor_id},
    )
    return [r for (r,) in rows]


async def delete_captures(
    conn: AsyncConnection, sensor_id: int, room_id: int
) -> list[tuple[datetime, int]]:
    """Delete the sensor's captures in one room; (15-minute bucket end, captures) per bucket."""
    rows = await conn.execute(
        text(
            "WITH gone AS (DELETE FROM capture WHERE room_id = :room AND sensor_id = :id"
            " RETURNING ts)"
            " SELECT roomtemp_bucket(ts, interval '15 minutes'), count(*) FROM gone GROUP BY 1"
        ),
        {"room": room_id, "id": sensor_id},
    )
    return [(bucket, n) for bucket, n in rows]


async def delete_sensor(conn: AsyncConnection, sensor_id: int) -> None:
    for statement in (
        "DELETE FROM sensor_status WHERE sensor_id = :id",
        "DELETE FROM room_sensor WHERE sensor_id = :id",
        "DELETE FROM sensor_assignment WHERE sensor_id = :id",
        "DELETE FROM sensor WHERE id = :id",
    ):
        await conn.execute(text(statement), {"id": sensor_id})


async def retire_sensor(conn: AsyncConnection, sensor_id: int, now: datetime) -> None:
    await conn.execute(
        text("UPDATE sensor SET retired_at = :now WHERE id = :id AND retired_at IS NULL"),
        {"id": sensor_id, "now": now},
    )


async def select_latest_assignment(
    conn: AsyncConnection, sensor_id: int, start: datetime
) -> tuple[int, bool]:
    """The room of the sensor's latest assignment and whether `start` comes after it began."""
    row = (
        await conn.execute(
            text(
                "SELECT room_id, valid_from < :start FROM sensor_assignment"
                " WHERE sensor_id = :id ORDER BY valid_from DESC LIMIT 1"
            ),
            {"id": sensor_id, "start": start},
        )
    ).one()
    return int(row[0]), bool(row[1])


async def insert_assignment(
    conn: AsyncConnection, sensor_id: int, start: datetime, room_id: int
) -> None:
    await conn.execute(
        text(
            "INSERT INTO sensor_assignment (sensor_id, valid_from, room_id)"
            " VALUES (:id, :start, :room)"
        ),
        {"id": sensor_id, "start": start, "room": room_id},
    )
    await room_sensors.record(conn, [(room_id, sensor_id)])


_INSERT_MOVED = text(
    f"""
    INSERT INTO capture (ts, value, room_id, sensor_id)
    SELECT {arrays.timestamptz_of_micros("i.us")}, i.v, :new, :id
    FROM unnest(CAST(:ts AS bigint[]), CAST(:vals AS double precision[])) AS i(us, v)
    ORDER BY 1
    """  # noqa: S608 - a fixed fragment; values are bound
)


async def move_captures(
    conn: AsyncConnection, sensor_id: int, start: datetime, old_room: int, new_room: int
) -> list[datetime]:
    """Re-attribute the sensor's captures at or after `start` from one room to the other; their
    timestamps. Two statements, no UPDATE of room_id: Citus distributes captures by room and
    cannot update a distribution column, nor move rows between shards in one statement."""
    moved = list(
        await conn.execute(
            text(
                "DELETE FROM capture WHERE room_id = :old AND sensor_id = :id AND ts >= :start"
                " RETURNING ts, value"
            ),
            {"old": old_room, "id": sensor_id, "start": start},
        )
    )
    if moved:
        await conn.execute(
            _INSERT_MOVED,
            {
                "new": new_room,
                "id": sensor_id,
                "ts": arrays.micros_literal(ts for ts, _ in moved),
                "vals": arrays.float_literal(v for _, v in moved),
            },
        )
    return [ts for ts, _ in moved]


@dataclass(frozen=True)
class AssignmentRow:
    building: str
    room: str
    start: datetime | None  # None: from the beginning
    end: datetime | None  # None: still there


async def select_assignments(conn: AsyncConnection, sensor_id: int) -> list[AssignmentRow]:
    # '-infinity' becomes NULL in SQL: Python's datetime cannot hold it.
    rows = await conn.execute(
        text(
            "SELECT b.key, r.key, NULLIF(a.valid_from, '-infinity'),"
            " lead(a.valid_from) OVER (ORDER BY a.valid_from)"
            " FROM sensor_assignment a JOIN room r ON r.id = a.room_id"
            " JOIN building b ON b.id = r.building_id"
            " WHERE a.sensor_id = :id ORDER BY a.valid_from"
        ),
        {"id": sensor_id},
    )
    return [AssignmentRow(*r) for r in rows]


@dataclass(frozen=True)
class UnknownRow:
    key: str
    first_seen: datetime
    last_seen: datetime
    refused: int


async def select_unknown_page(
    conn: AsyncConnection, after: str | None, limit: int
) -> list[UnknownRow]:
    rows = await conn.execute(
        text(
            "SELECT key, first_seen, last_seen, refused FROM unknown_sensor"
            " WHERE CAST(:after AS text) IS NULL OR key > CAST(:after AS text)"
            " ORDER BY key LIMIT :limit"
        ),
        {"after": after, "limit": limit},
    )
    return [UnknownRow(*r) for r in rows]


_SILENT_BY_BUILDING = text(
    _SENSORS.format(
        pairs="", inner="WHERE s.key IS NOT NULL AND s.retired_at IS NULL", where=""
    ).replace(
        "SELECT * FROM",
        "SELECT building, count(*) FILTER (WHERE coalesce(last_capture_at,"
        " created_at) < CAST(:before AS timestamptz)) FROM",
        1,
    )
    + " GROUP BY building"
)


async def count_silent_by_building(
    conn: AsyncConnection, now: datetime, before: datetime
) -> dict[str, int]:
    """Registered, not retired sensors with no capture since `before`, per building of their
    current room (buildings with registered sensors and none silent answer 0)."""
    rows = await conn.execute(_SILENT_BY_BUILDING, {"now": now, "before": before})
    return {b: int(n) for b, n in rows}
