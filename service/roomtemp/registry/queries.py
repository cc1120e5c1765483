"""SQL for the registry: buildings, rooms, sensor types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, Select, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import citus_modes, driver
from roomtemp.db.tables import building, room, sensor_type


@dataclass(frozen=True)
class SensorTypeRow:
    id: int
    key: str
    unit: str
    min_value: float
    max_value: float
    description: str
    created_at: datetime


_SENSOR_TYPE_COLUMNS = (
    sensor_type.c.id,
    sensor_type.c.key,
    sensor_type.c.unit,
    sensor_type.c.min_value,
    sensor_type.c.max_value,
    sensor_type.c.description,
    sensor_type.c.created_at,
)


def _sensor_type(row: Row[tuple[int, str, str, float, float, str, datetime]]) -> SensorTypeRow:
    return SensorTypeRow(*row)


_SENSOR_TYPES_BY_KEY = text(
    "SELECT id, key, unit, min_value, max_value, description, created_at FROM sensor_type"
    " WHERE key = ANY(CAST(:keys AS text[]))"
)


async def select_sensor_types_by_key(
    conn: AsyncConnection, keys: Sequence[str]
) -> list[SensorTypeRow]:
    # Read by every ingest and read request: on the driver (db/driver.py says why).
    rows = await driver.fetch_all(
        conn, _SENSOR_TYPES_BY_KEY, {"keys": list(keys)}, name="select sensor_type"
    )
    return [SensorTypeRow(*r) for r in rows]


async def select_sensor_types_page(
    conn: AsyncConnection, after: str | None, limit: int
) -> list[SensorTypeRow]:
    query = select(*_SENSOR_TYPE_COLUMNS).order_by(sensor_type.c.key).limit(limit)
    if after is not None:
        query = query.where(sensor_type.c.key > after)
    return [_sensor_type(r) for r in await conn.execute(query)]


async def upsert_sensor_type(
    conn: AsyncConnection, key: str, unit: str, min_value: float, max_value: float, description: str
) -> tuple[SensorTypeRow, bool]:
    """Create or replace a sensor type; returns the row and whether it was created."""
    ins = insert(sensor_type).values(
        key=key, unit=unit, min_value=min_value, max_value=max_value, description=description
    )
    stmt = ins.on_conflict_do_update(
        index_elements=[sensor_type.c.key],
        set_={
            "unit": ins.excluded.unit,
            "min_value": ins.excluded.min_value,
            "max_value": ins.excluded.max_value,
            "description": ins.excluded.description,
        },
    ).returning(*_SENSOR_TYPE_COLUMNS, text("(xmax = 0) AS created"))
    row = (await conn.execute(stmt)).one()
    return SensorTypeRow(*row[:7]), bool(row[7])


async def sensor_type_has_captures(conn: AsyncConnection, sensor_type_id: int) -> bool:
    """Whether any capture is of this type. Leaves the transaction in Citus' sequential mode."""
    await citus_modes.one_connection_per_node(conn)
    found = await conn.scalar(
        # A sensor determines its type (captures carry the sensor since migration 0007).
        text(
            "SELECT EXISTS (SELECT 1 FROM capture c JOIN sensor s ON s.id = c.sensor_id"
            " WHERE s.sensor_type_id = :id)"
        ),
        {"id": sensor_type_id},
    )
    return bool(found)


@dataclass(frozen=True)
class BuildingRow:
    id: int
    key: str
    name: str
    created_at: datetime
    room_count: int
    time_zone: str | None  # as stored: None means the DEFAULT_TIME_ZONE setting


def _building_query() -> Select[tuple[int, str, str, datetime, int, str | None]]:
    room_count = (
        select(func.count())
        .select_from(room)
        .where(room.c.building_id == building.c.id)
        .scalar_subquery()
    )
    return select(
        building.c.id,
        building.c.key,
        building.c.name,
        building.c.created_at,
        room_count,
        building.c.time_zone,
    )


async def select_building(conn: AsyncConnection, key: str) -> BuildingRow | None:
    row = (await conn.execute(_building_query().where(building.c.key == key))).one_or_none()
    return BuildingRow(*row) if row else None


async def select_buildings_page(
    conn: AsyncConnection, after: str | None, limit: int, only: Sequence[str] | None = None
) -> list[BuildingRow]:
    """A page of buildings; `only`: just these keys (a token scoped to buildings)."""
    query = _building_query().order_by(building.c.key).limit(limit)
    if after is not None:
        query = query.where(building.c.key > after)
    if only is not None:
        query = query.where(building.c.key.in_(list(only)))
    return [BuildingRow(*r) for r in await conn.execute(query)]


async def upsert_building(
    conn: AsyncConnection, key: str, name: str, time_zone: str | None
) -> bool:
    """Create or replace a building's name and time zone; True if it was created."""
    ins = insert(building).values(key=key, name=name, time_zone=time_zone)
    stmt = ins.on_conflict_do_update(
        index_elements=[building.c.key],
        set_={"name": ins.excluded.name, "time_zone": ins.excluded.time_zone},
    ).returning(text("(xmax = 0) AS created"))
    return bool((await conn.execute(stmt)).scalar_one())


@dataclass(frozen=True)
class RoomRow:
    id: int
    building: str  # the building's key, as in the API
    key: str
    name: str
    created_at: datetime


_ROOM_COLUMNS = (room.c.id, building.c.key, room.c.key, room.c.name, room.c.created_at)


async def select_room(conn: AsyncConnection, building_key: str, room_key: str) -> RoomRow | None:
    query = (
        select(*_ROOM_COLUMNS)
        .join_from(room, building, room.c.building_id == building.c.id)
        .where(building.c.key == building_key, room.c.key == room_key)
    )
    row = (await conn.execute(query)).one_or_none()
    return RoomRow(*row) if row else None


async def select_rooms_page(
    conn: AsyncConnection, building_id: int, after: str | None, limit: int
) -> list[RoomRow]:
    query = (
        select(*_ROOM_COLUMNS)
        .join_from(room, building, room.c.building_id == building.c.id)
        .where(room.c.building_id == building_id)
        .order_by(room.c.key)
        .limit(limit)
    )
    if after is not None:
        query = query.where(room.c.key > after)
    return [RoomRow(*r) for r in await conn.execute(query)]


async def upsert_room(conn: AsyncConnection, building_id: int, key: str, name: str) -> bool:
    """Create or rename a room; True if it was created."""
    ins = insert(room).values(building_id=building_id, key=key, name=name)
    stmt = ins.on_conflict_do_update(
        index_elements=[room.c.building_id, room.c.key], set_={"name": ins.excluded.name}
    ).returning(text("(xmax = 0) AS created"))
    return bool((await conn.execute(stmt)).scalar_one())


_ROOM_IDS = text(
    "SELECT b.key, i.rkey, r.id"
    " FROM unnest(CAST(:bkeys AS text[]), CAST(:rkeys AS text[])) AS i(bkey, rkey)"
    " JOIN building b ON b.key = i.bkey"
    " LEFT JOIN room r ON r.building_id = b.id AND r.key = i.rkey"
)


async def select_room_ids(
    conn: AsyncConnection, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], int | None]:
    """Room ids for the (building key, room key) pairs whose building exists; None where the
    room does not (so a caller can tell an unknown building from an unknown room)."""
    rows = await driver.fetch_all(
        conn,
        _ROOM_IDS,
        {"bkeys": [p[0] for p in pairs], "rkeys": [p[1] for p in pairs]},
        name="select room ids",
    )
    return {(b, r): room_id for b, r, room_id in rows}


async def insert_missing_rooms(conn: AsyncConnection, pairs: Sequence[tuple[str, str]]) -> None:
    """Register buildings and rooms that do not exist yet, named after their keys.

    Rows are inserted in key order so concurrent batches take locks in the same order.
    """
    building_keys = sorted({b for b, _ in pairs})
    await conn.execute(
        text(
            "INSERT INTO building (key, name)"
            " SELECT k, k FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k"
            " ON CONFLICT (key) DO NOTHING"
        ),
        {"keys": building_keys},
    )
    ordered = sorted(set(pairs))
    await conn.execute(
        text(
            "INSERT INTO room (building_id, key, name)"
            " SELECT b.id, i.rkey, i.rkey"
            " FROM unnest(CAST(:bkeys AS text[]), CAST(:rkeys AS text[])) AS i(bkey, rkey)"
            " JOIN building b ON b.key = i.bkey ORDER BY b.id, i.rkey"
            " ON CONFLICT (building_id, key) DO NOTHING"
        ),
        {"bkeys": [p[0] for p in ordered], "rkeys": [p[1] for p in ordered]},
    )


# Renames (migration 0012): the old key is remembered, pointing to the building or room that has
# the new one, so ingest never auto-registers it again and a read can say where it went.
async def rename_building(
    conn: AsyncConnection, building_id: int, old: str, new: str, now: datetime
) -> None:
    for statement in (
        "UPDATE building SET key = :new WHERE id = :id",
        # The new key names this building now: a rename away from it earlier is over.
        "DELETE FROM renamed_building WHERE old_key = :new",
        "INSERT INTO renamed_building (old_key, building_id, renamed_at) VALUES (:old, :id, :now)"
        " ON CONFLICT (old_key) DO UPDATE SET building_id = :id, renamed_at = :now",
    ):
        await conn.execute(text(statement), {"id": building_id, "old": old, "new": new, "now": now})


async def rename_room(
    conn: AsyncConnection, building_id: int, room_id: int, old: str, new: str, now: datetime
) -> None:
    params = {"b": building_id, "id": room_id, "old": old, "new": new, "now": now}
    for statement in (
        "UPDATE room SET key = :new WHERE id = :id",
        "DELETE FROM renamed_room WHERE building_id = :b AND old_key = :new",
        "INSERT INTO renamed_room (building_id, old_key, room_id, renamed_at)"
        " VALUES (:b, :old, :id, :now)"
        " ON CONFLICT (building_id, old_key) DO UPDATE SET room_id = :id, renamed_at = :now",
    ):
        await conn.execute(text(statement), params)


async def forget_building_rename(conn: AsyncConnection, key: str) -> None:
    """An explicit PUT of an old key: it names a new building from now on."""
    await conn.execute(text("DELETE FROM renamed_building WHERE old_key = :k"), {"k": key})


async def forget_room_rename(conn: AsyncConnection, building_id: int, key: str) -> None:
    await conn.execute(
        text("DELETE FROM renamed_room WHERE building_id = :b AND old_key = :k"),
        {"b": building_id, "k": key},
    )


async def select_renames(
    conn: AsyncConnection, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """For the (building key, room key) pairs whose building or room key was renamed away: a
    sentence saying to what (the key it has now)."""
    rows = await conn.execute(
        text(
            "SELECT i.bkey, i.rkey, CASE WHEN rb.old_key IS NOT NULL"
            "  THEN format('building %L was renamed to %L', i.bkey, nb.key)"
            "  ELSE format('room %L in building %L was renamed to %L', i.rkey, i.bkey, nr.key)"
            " END"
            " FROM unnest(CAST(:bkeys AS text[]), CAST(:rkeys AS text[])) AS i(bkey, rkey)"
            " LEFT JOIN renamed_building rb ON rb.old_key = i.bkey"
            " LEFT JOIN building nb ON nb.id = rb.building_id"
            " LEFT JOIN building b ON b.key = i.bkey"
            " LEFT JOIN renamed_room rr ON rr.building_id = b.id AND rr.old_key = i.rkey"
            " LEFT JOIN room nr ON nr.id = rr.room_id"
            " WHERE rb.old_key IS NOT NULL OR rr.old_key IS NOT NULL"
        ),
        {"bkeys": [p[0] for p in pairs], "rkeys": [p[1] for p in pairs]},
    )
    return {(b, r): why for b, r, why in rows}
