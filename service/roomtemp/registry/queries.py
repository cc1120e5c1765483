"""SQL for the registry: buildings, rooms, sensor types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, Select, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

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


async def select_sensor_types_by_key(
    conn: AsyncConnection, keys: Sequence[str]
) -> list[SensorTypeRow]:
    rows = await conn.execute(select(*_SENSOR_TYPE_COLUMNS).where(sensor_type.c.key.in_(keys)))
    return [_sensor_type(r) for r in rows]


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


async def select_room_ids(
    conn: AsyncConnection, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], int | None]:
    """Room ids for the (building key, room key) pairs whose building exists; None where the
    room does not (so a caller can tell an unknown building from an unknown room)."""
    rows = await conn.execute(
        text(
            "SELECT b.key, i.rkey, r.id"
            " FROM unnest(CAST(:bkeys AS text[]), CAST(:rkeys AS text[])) AS i(bkey, rkey)"
            " JOIN building b ON b.key = i.bkey"
            " LEFT JOIN room r ON r.building_id = b.id AND r.key = i.rkey"
        ),
        {"bkeys": [p[0] for p in pairs], "rkeys": [p[1] for p in pairs]},
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
