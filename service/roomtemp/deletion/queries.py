"""SQL of the deletes: what still uses a room or a sensor type, the deletes, the audit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import arrays, locks

# (sensor, 15-minute bucket end, captures) of the captures a DELETE … RETURNING took: the keys
# rollup.captures_removed recomputes (one per bucket, not one per capture).
_BY_BUCKET = (
    " SELECT sensor_id, roomtemp_bucket(ts, interval '15 minutes'), count(*) FROM gone"
    " GROUP BY 1, 2"
)
_DELETE_RANGE = text(
    "WITH gone AS (DELETE FROM capture WHERE room_id = :room"  # noqa: S608 - fixed fragments
    " AND ts >= :start AND ts < :end RETURNING sensor_id, ts)" + _BY_BUCKET
)
_DELETE_SENSOR_RANGE = text(
    "WITH gone AS (DELETE FROM capture WHERE room_id = :room"  # noqa: S608 - fixed fragments
    " AND sensor_id = :sensor AND ts >= :start AND ts < :end RETURNING sensor_id, ts)" + _BY_BUCKET
)

Bucket = tuple[int, datetime, int]  # (sensor id, 15-minute bucket end, captures deleted)


async def delete_range(
    conn: AsyncConnection, room_id: int, sensor_id: int | None, start: datetime, end: datetime
) -> list[Bucket]:
    """Delete the room's captures (of one sensor, or all) with start <= ts < end."""
    params = {"room": room_id, "sensor": sensor_id, "start": start, "end": end}
    stmt = _DELETE_RANGE if sensor_id is None else _DELETE_SENSOR_RANGE
    return [(s, b, n) for s, b, n in await conn.execute(stmt, params)]


async def count_captures(conn: AsyncConnection, room_ids: Sequence[int]) -> int:
    # An index range per room (room_id leads the key); on Citus the shards of those rooms.
    rows = await conn.execute(
        text("SELECT count(*) FROM capture WHERE room_id = ANY(CAST(:ids AS integer[]))"),
        {"ids": arrays.int_literal(room_ids)},
    )
    return int(rows.scalar_one())


async def delete_room_captures(conn: AsyncConnection, room_id: int) -> int:
    result = await conn.execute(
        text("DELETE FROM capture WHERE room_id = :room"), {"room": room_id}
    )
    return int(result.rowcount)


@dataclass(frozen=True)
class RoomUsers:
    """What keeps rooms from being deleted, other than captures."""

    sensors: list[str]  # registered sensors that are or were in one of the rooms
    alert_rules: list[str]  # alert rules naming one of the rooms


async def room_users(conn: AsyncConnection, room_ids: Sequence[int]) -> RoomUsers:
    ids = {"ids": arrays.int_literal(room_ids)}
    sensors = await conn.execute(
        text(
            "SELECT DISTINCT s.key FROM sensor_assignment a JOIN sensor s ON s.id = a.sensor_id"
            " WHERE a.room_id = ANY(CAST(:ids AS integer[])) AND s.key IS NOT NULL ORDER BY 1"
        ),
        ids,
    )
    rules = await conn.execute(
        text("SELECT name FROM alert_rule WHERE room_id = ANY(CAST(:ids AS integer[])) ORDER BY 1"),
        ids,
    )
    return RoomUsers([k for (k,) in sensors], [n for (n,) in rules])


async def building_alert_rules(conn: AsyncConnection, building_id: int) -> list[str]:
    rows = await conn.execute(
        text("SELECT name FROM alert_rule WHERE building_id = :id ORDER BY 1"), {"id": building_id}
    )
    return [n for (n,) in rows]


async def lock_room(conn: AsyncConnection, room_id: int) -> bool:
    """Lock the room's row until commit; False when it is gone (deleted meanwhile)."""
    found = await conn.scalar(
        text("SELECT id FROM room WHERE id = :id FOR UPDATE"), {"id": room_id}
    )
    return found is not None


async def lock_building(conn: AsyncConnection, building_id: int) -> bool:
    """Lock the building's row until commit (no room is auto-registered in it meanwhile: a new
    room's foreign key waits); False when it is gone (deleted meanwhile)."""
    found = await conn.scalar(
        text("SELECT id FROM building WHERE id = :id FOR UPDATE"), {"id": building_id}
    )
    return found is not None


async def select_room_ids(conn: AsyncConnection, building_id: int) -> list[int]:
    rows = await conn.execute(
        text("SELECT id FROM room WHERE building_id = :id ORDER BY id"), {"id": building_id}
    )
    return [i for (i,) in rows]


# A room goes with its alerts (transitions, outbox rows and deliveries cascade) and its default
# sensors (their status and assignments); registered sensors and rules were refused before.
_DELETE_ROOMS = (
    "DELETE FROM alert WHERE room_id = ANY(CAST(:ids AS integer[]))",
    "DELETE FROM sensor_status WHERE sensor_id IN"
    " (SELECT id FROM sensor WHERE default_room_id = ANY(CAST(:ids AS integer[])))",
    "DELETE FROM room_sensor WHERE room_id = ANY(CAST(:ids AS integer[]))",
    "DELETE FROM sensor_assignment WHERE room_id = ANY(CAST(:ids AS integer[]))",
    "DELETE FROM sensor WHERE default_room_id = ANY(CAST(:ids AS integer[]))",
    "DELETE FROM room WHERE id = ANY(CAST(:ids AS integer[]))",
)


async def delete_rooms(conn: AsyncConnection, room_ids: Sequence[int]) -> None:
    """Delete rooms without captures, rollups or registered sensors."""
    for statement in _DELETE_ROOMS:
        await conn.execute(text(statement), {"ids": arrays.int_literal(room_ids)})


async def delete_building(conn: AsyncConnection, building_id: int) -> None:
    await conn.execute(text("DELETE FROM building WHERE id = :id"), {"id": building_id})


@dataclass(frozen=True)
class TypeUsers:
    captures: int
    sensors: list[str]  # registered sensors (retired ones too)
    alert_rules: list[str]


async def sensor_type_users(conn: AsyncConnection, sensor_type_id: int) -> TypeUsers:
    params = {"id": sensor_type_id}
    captures = await conn.scalar(
        text(
            "SELECT count(*) FROM capture c JOIN sensor s ON s.id = c.sensor_id"
            " WHERE s.sensor_type_id = :id"
        ),
        params,
    )
    sensors = await conn.execute(
        text("SELECT key FROM sensor WHERE sensor_type_id = :id AND key IS NOT NULL ORDER BY key"),
        params,
    )
    rules = await conn.execute(
        text("SELECT name FROM alert_rule WHERE sensor_type_id = :id ORDER BY name"), params
    )
    return TypeUsers(int(captures or 0), [k for (k,) in sensors], [n for (n,) in rules])


async def lock_sensor_type(conn: AsyncConnection, sensor_type_id: int) -> bool:
    """Lock the type: its advisory lock exclusively (ingest's rollup statements hold it shared
    while they summarise with its comfort bounds, db/locks.py) and its row (a new default
    sensor's foreign key takes KEY SHARE), so neither runs past this until commit."""
    await locks.lock_sensor_type(conn, sensor_type_id)
    found = await conn.scalar(
        text("SELECT id FROM sensor_type WHERE id = :id FOR UPDATE"), {"id": sensor_type_id}
    )
    return found is not None


_DELETE_TYPE = (
    # Default sensors without captures (users() found none) are created again on first use.
    "DELETE FROM sensor_status WHERE sensor_id IN"
    " (SELECT id FROM sensor WHERE sensor_type_id = :id)",
    "DELETE FROM room_sensor WHERE sensor_id IN (SELECT id FROM sensor WHERE sensor_type_id = :id)",
    "DELETE FROM sensor_assignment WHERE sensor_id IN"
    " (SELECT id FROM sensor WHERE sensor_type_id = :id)",
    "DELETE FROM sensor WHERE sensor_type_id = :id",
    "DELETE FROM sensor_type WHERE id = :id",
)


async def delete_sensor_type(conn: AsyncConnection, sensor_type_id: int) -> None:
    for statement in _DELETE_TYPE:
        await conn.execute(text(statement), {"id": sensor_type_id})


@dataclass(frozen=True)
class AuditEntry:
    """One row of deletion_audit as the API shows it (`by`: the token's name)."""

    id: int
    at: datetime
    token: str | None  # the token's public id; None: auth was off
    by: str | None  # the token's name
    kind: str
    building: str | None
    building_id: int | None
    room: str | None
    room_id: int | None
    sensor: str | None
    sensor_id: int | None
    sensor_type: str | None
    sensor_type_id: int | None
    start: datetime | None
    end: datetime | None
    captures_deleted: int


@dataclass(frozen=True)
class NewEntry:
    at: datetime
    token: str | None
    kind: str
    building: str | None = None
    building_id: int | None = None
    room: str | None = None
    room_id: int | None = None
    sensor: str | None = None
    sensor_id: int | None = None
    sensor_type: str | None = None
    sensor_type_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    captures_deleted: int = 0


_SELECT = """
    SELECT d.id, d.at, d.token_public_id, t.name, d.kind, d.building_key, d.building_id,
           d.room_key, d.room_id, d.sensor_key, d.sensor_id, d.sensor_type_key,
           d.sensor_type_id, d.range_from, d.range_to, d.captures_deleted
    FROM deletion_audit d LEFT JOIN api_token t ON t.public_id = d.token_public_id
"""


async def insert_entry(conn: AsyncConnection, e: NewEntry) -> AuditEntry:
    new_id = await conn.scalar(
        text(
            "INSERT INTO deletion_audit (at, token_public_id, kind, building_key, building_id,"
            " room_key, room_id, sensor_key, sensor_id, sensor_type_key, sensor_type_id,"
            " range_from, range_to, captures_deleted)"
            " VALUES (:at, :token, :kind, :building, :building_id, :room, :room_id, :sensor,"
            " :sensor_id, :sensor_type, :sensor_type_id, :start, :end, :n) RETURNING id"
        ),
        {
            "at": e.at,
            "token": e.token,
            "kind": e.kind,
            "building": e.building,
            "building_id": e.building_id,
            "room": e.room,
            "room_id": e.room_id,
            "sensor": e.sensor,
            "sensor_id": e.sensor_id,
            "sensor_type": e.sensor_type,
            "sensor_type_id": e.sensor_type_id,
            "start": e.start,
            "end": e.end,
            "n": e.captures_deleted,
        },
    )
    row = (await conn.execute(text(_SELECT + " WHERE d.id = :id"), {"id": new_id})).one()
    return AuditEntry(*row)


@dataclass(frozen=True)
class AuditFilter:
    kind: str | None = None
    building: str | None = None
    room: str | None = None
    sensor: str | None = None
    since: datetime | None = None  # at >= since
    until: datetime | None = None  # at < until


async def select_entries(
    conn: AsyncConnection, f: AuditFilter, before_id: int | None, limit: int
) -> list[AuditEntry]:
    """Newest first (by id: ids are handed out in commit-ish order, `at` may tie)."""
    rows = await conn.execute(
        text(
            _SELECT + " WHERE (CAST(:kind AS text) IS NULL OR d.kind = :kind)"
            " AND (CAST(:building AS text) IS NULL OR d.building_key = :building)"
            " AND (CAST(:room AS text) IS NULL OR d.room_key = :room)"
            " AND (CAST(:sensor AS text) IS NULL OR d.sensor_key = :sensor)"
            " AND (CAST(:since AS timestamptz) IS NULL OR d.at >= :since)"
            " AND (CAST(:until AS timestamptz) IS NULL OR d.at < :until)"
            " AND (CAST(:before AS bigint) IS NULL OR d.id < :before)"
            " ORDER BY d.id DESC LIMIT :limit"
        ),
        {
            "kind": f.kind,
            "building": f.building,
            "room": f.room,
            "sensor": f.sensor,
            "since": f.since,
            "until": f.until,
            "before": before_id,
            "limit": limit,
        },
    )
    return [AuditEntry(*r) for r in rows]
