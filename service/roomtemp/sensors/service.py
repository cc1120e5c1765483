"""Sensor registry rules: registering, renaming, deleting or retiring, moving; fleet health."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import citus_modes, locks
from roomtemp.errors import Conflict, ErrorDetail, Forbidden, InvalidInput, NotFound
from roomtemp.keys import is_valid_key
from roomtemp.pagination import decode_cursor, next_cursor
from roomtemp.registry import service as registry
from roomtemp.rollup import service as rollup
from roomtemp.sensors import queries
from roomtemp.sensors.queries import AssignmentRow, SensorFilter, SensorRow, UnknownRow
from roomtemp.tenancy import BuildingScope

__all__ = ["AssignmentRow", "SensorFilter", "SensorRow", "UnknownRow"]

DeleteMode = Literal["refuse", "delete", "keep"]
RESERVED_KEY = "unknown"


@dataclass(frozen=True)
class NewSensor:
    key: str
    sensor_type: str
    building: str
    room: str
    name: str = ""


@dataclass(frozen=True)
class Deleted:
    key: str
    outcome: Literal["deleted", "retired"]
    captures_deleted: int
    sensor_id: int = 0  # the id it had (the deletion audit records it)


@dataclass(frozen=True)
class Moved:
    key: str
    building: str
    room: str
    start: datetime
    captures_moved: int


def _split_default_key(key: str) -> tuple[str, str, str] | None:
    """(building, room, sensor type) of a default sensor's key "{b}/{r}/{t}", else None."""
    parts = key.split("/")
    if len(parts) == 3 and all(is_valid_key(p) for p in parts):
        return parts[0], parts[1], parts[2]
    return None


def _is_sensor_key(key: str) -> bool:
    return is_valid_key(key) or _split_default_key(key) is not None


async def sensor_id(conn: AsyncConnection, key: str) -> int:
    """The id of the sensor with this key (a registered key or a default "{b}/{r}/{t}")."""
    parts = _split_default_key(key)
    if parts is not None:
        found = await queries.select_default_id(conn, *parts)
    elif is_valid_key(key):
        found = await queries.select_registered_id(conn, key)
    else:
        found = None
    if found is None:
        raise NotFound(f"sensor {key!r} does not exist")
    return found


async def check_reach(
    conn: AsyncConnection, key: str, reach: BuildingScope, *, write: bool
) -> None:
    """A scoped token reaches a sensor only if every room it has been in is in its buildings
    (its captures and series never show another building's data). Otherwise a read answers as
    for a sensor that does not exist, a write is Forbidden (403)."""
    if reach.unlimited:
        return
    outside = [
        b
        for b in await queries.assigned_building_keys(conn, await sensor_id(conn, key))
        if not reach.allows(b)
    ]
    if not outside:
        return
    if write:
        raise Forbidden(f"sensor {key!r} has been in a building this token may not write to")
    raise NotFound(f"sensor {key!r} does not exist")


async def get_sensor(conn: AsyncConnection, key: str, now: datetime) -> SensorRow:
    row = await queries.select_sensor(conn, now, await sensor_id(conn, key))
    if row is None:  # deleted between the two statements
        raise NotFound(f"sensor {key!r} does not exist")
    return row


def _decode_sensor_cursor(cursor: str | None) -> str | None:
    decoded = decode_cursor(cursor)
    if decoded is not None and not _is_sensor_key(decoded):
        raise InvalidInput(
            "invalid cursor", [ErrorDetail("cursor is not one this API returned", field="cursor")]
        )
    return decoded


async def list_sensors(
    conn: AsyncConnection, now: datetime, f: SensorFilter, cursor: str | None, limit: int
) -> tuple[list[SensorRow], str | None]:
    """Sensors in key order (default sensors by their computed key), one page at a time."""
    if f.room is not None and f.building is None:
        raise InvalidInput(
            "room needs building", [ErrorDetail("give building with room", field="room")]
        )
    rows = await queries.select_sensors_page(conn, now, f, _decode_sensor_cursor(cursor), limit)
    return rows, next_cursor([r.key for r in rows], limit)


async def register(
    conn: AsyncConnection, sensors: Sequence[NewSensor], *, auto_register: bool, now: datetime
) -> list[SensorRow]:
    """Register sensors (all or none): each key new, each type known, each room existing or
    auto-registered as the building/room form of ingest does. Their keys leave the unknown list
    in the same transaction."""
    problems: list[ErrorDetail] = [
        # GET /v1/sensors/unknown is the list of unknown keys: a sensor could not be read there.
        ErrorDetail(f"{RESERVED_KEY!r} is reserved", field="key", index=i, code="reserved_key")
        for i, s in enumerate(sensors)
        if s.key == RESERVED_KEY
    ]
    keys = [s.key for s in sensors]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise InvalidInput(
            "a key is given twice",
            [ErrorDetail(f"key {k!r} appears more than once", field="key") for k in repeated],
        )
    existing = await queries.select_existing_keys(conn, keys)
    if existing:
        raise Conflict(f"sensor already registered: {', '.join(existing)}", code="sensor_exists")
    types = await registry.sensor_types_by_key(conn, sorted({s.sensor_type for s in sensors}))
    found = await registry.resolve_rooms(
        conn, [(s.building, s.room) for s in sensors], auto_register=auto_register
    )
    rooms = found.ids
    for index, s in enumerate(sensors):
        if s.sensor_type not in types:
            problems.append(
                ErrorDetail(
                    f"sensor type {s.sensor_type!r} does not exist",
                    field="sensor_type",
                    index=index,
                    code="unknown_sensor_type",
                )
            )
        if (s.building, s.room) not in rooms:
            problems.append(found.missing(s.building, s.room, index))
    if problems:
        raise InvalidInput("invalid sensors", problems)
    inserted = await queries.insert_sensors(
        conn,
        keys,
        [types[s.sensor_type].id for s in sensors],
        [s.name for s in sensors],
        [rooms[(s.building, s.room)] for s in sensors],
        now,  # the injected clock: "silent since registration" is measured on it
    )
    if inserted < len(sensors):  # registered by a concurrent request since the check above
        raise Conflict("sensor already registered", code="sensor_exists")
    return [await get_sensor(conn, k, now) for k in keys]


async def rename(conn: AsyncConnection, key: str, name: str, now: datetime) -> SensorRow:
    await queries.update_name(conn, await sensor_id(conn, key), name)
    return await get_sensor(conn, key, now)


async def _registered(conn: AsyncConnection, key: str, now: datetime, what: str) -> SensorRow:
    """The sensor, refusing default sensors: they are their room's, never moved or deleted."""
    row = await get_sensor(conn, key, now)
    if row.default:
        raise Conflict(
            f"{key!r} is the default sensor of its room: it cannot be {what}",
            code="default_sensor",
        )
    return row


async def delete(conn: AsyncConnection, key: str, mode: DeleteMode, now: datetime) -> Deleted:
    """Delete a sensor. With captures: refused unless `delete` (captures go too, rollups follow)
    or `keep` (retired: kept as history, its key refused at ingest from now on)."""
    await citus_modes.one_connection_per_node(conn)  # reads captures, then deletes the sensor
    row = await _registered(conn, key, now, "deleted")
    await locks.lock_sensor(conn, row.id)  # no batch attributes captures to it meanwhile
    if not await queries.has_captures(conn, row.id):
        await queries.delete_sensor(conn, row.id)
        return Deleted(key, "deleted", 0, row.id)
    if mode == "refuse":
        raise Conflict(
            f"sensor {key!r} has captures: delete with ?captures=delete (captures too) or "
            "?captures=keep (retire it, keeping its captures)",
            code="sensor_has_captures",
        )
    if mode == "keep":
        await queries.retire_sensor(conn, row.id, now)
        return Deleted(key, "retired", 0, row.id)
    room_ids = await queries.assigned_room_ids(conn, row.id)
    await locks.lock_rooms(conn, room_ids)
    total = 0
    for room_id in sorted(room_ids):
        buckets = await queries.delete_captures(conn, row.id, room_id)
        total += sum(n for _, n in buckets)
        await rollup.captures_removed(conn, [(room_id, row.id, b) for b, _ in buckets])
    await queries.delete_sensor(conn, row.id)
    return Deleted(key, "deleted", total, row.id)


async def move(
    conn: AsyncConnection,
    key: str,
    building: str,
    room: str,
    start: datetime,
    *,
    auto_register: bool,
    now: datetime,
) -> Moved:
    """Assign the sensor to another room from `start` on, in one transaction: its captures at or
    after `start` are re-attributed and the rollups of both rooms recomputed where touched."""
    await citus_modes.one_connection_per_node(conn)  # reads captures, then writes the registry
    row = await _registered(conn, key, now, "moved")
    if row.retired_at is not None:
        raise Conflict(f"sensor {key!r} is retired", code="sensor_retired")
    await locks.lock_sensor(conn, row.id)  # ingest holds it shared while it attributes captures
    old_room, later = await queries.select_latest_assignment(conn, row.id, start)
    if not later:
        raise Conflict(
            f"sensor {key!r} has an assignment starting at or after {start.isoformat()}; a "
            "move must start after the latest one",
            code="move_not_after_latest",
        )
    found = await registry.resolve_rooms(conn, [(building, room)], auto_register=auto_register)
    if (building, room) not in found.ids:
        problem = found.missing(building, room)
        raise InvalidInput(problem.message, [problem])
    new_room = found.ids[(building, room)]
    if new_room == old_room:
        raise Conflict(f"sensor {key!r} is already in that room", code="sensor_already_there")
    await locks.lock_rooms(conn, [old_room, new_room])
    await queries.insert_assignment(conn, row.id, start, new_room)
    moved = await queries.move_captures(conn, row.id, start, old_room, new_room)
    # `start` itself is named in both rooms: the old room's last value before it is now held
    # only until the move, whose bucket changes even when no capture moved.
    await rollup.captures_removed(conn, [(old_room, row.id, t) for t in [start, *moved]])
    await rollup.captures_changed(conn, [(new_room, row.id, t) for t in [start, *moved]])
    return Moved(key, building, room, start, len(moved))


async def assignments(conn: AsyncConnection, key: str) -> list[AssignmentRow]:
    return await queries.select_assignments(conn, await sensor_id(conn, key))


async def list_unknown(
    conn: AsyncConnection, cursor: str | None, limit: int
) -> tuple[list[UnknownRow], str | None]:
    rows = await queries.select_unknown_page(conn, _decode_sensor_cursor(cursor), limit)
    return rows, next_cursor([r.key for r in rows], limit)


async def silent_by_building(
    conn: AsyncConnection, now: datetime, silent_for: timedelta
) -> dict[str, int]:
    """Registered sensors silent for longer than `silent_for`, per building (the gauge)."""
    return await queries.count_silent_by_building(conn, now, now - silent_for)
