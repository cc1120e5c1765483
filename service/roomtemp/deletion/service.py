"""Deletion rules: what may be deleted when, rollups kept exact, every deletion audited.

- A room or building with captures is refused (409 `has_captures`) unless the caller asks for
  its captures to go too; registered sensors that are or were in it and alert rules naming it
  are refused always (delete or move those first: they carry history and configuration).
  Its default sensors and its alerts (with their transitions and deliveries) go with it.
- A sensor type is refused while any capture, registered sensor or alert rule uses it; default
  sensors of rooms without captures of it go with it (ingest creates them again on first use).
- Captures of a room, or of one sensor in it, with from <= ts < to: deleted under the room's
  lock (ingest of the room waits), and their buckets recomputed by rollup.captures_removed, the
  path sensor deletes and retention take, so every rollup level stays exact.
- Each success writes one deletion_audit row in the same transaction; the DELETE answers it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import citus_modes, locks
from roomtemp.deletion import queries
from roomtemp.deletion.queries import AuditEntry, AuditFilter, NewEntry
from roomtemp.errors import Conflict, ErrorDetail, InvalidInput, NotFound
from roomtemp.live import service as live
from roomtemp.pagination import decode_int_cursor, encode_cursor
from roomtemp.registry import service as registry
from roomtemp.rollup import service as rollup
from roomtemp.sensors import service as sensors

__all__ = ["AuditEntry", "AuditFilter"]

CapturesMode = Literal["refuse", "delete"]
ANONYMOUS = "anonymous"  # who deleted, when AUTH_REQUIRED is off
_ID_MAX = 2**63 - 1


def _listed(what: str, keys: Sequence[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:5])
    return f"{len(keys)} {what} ({shown}{', …' if len(keys) > 5 else ''})"


async def _refuse_users(conn: AsyncConnection, room_ids: Sequence[int], what: str) -> None:
    users = await queries.room_users(conn, room_ids)
    if users.sensors:
        raise Conflict(
            f"{what} has {_listed('registered sensors', users.sensors)} that are or were in "
            "it: delete them first (DELETE /v1/sensors/{key}), they carry their own history",
            code="has_sensors",
        )
    if users.alert_rules:
        raise Conflict(
            f"{what} is named by {_listed('alert rules', users.alert_rules)}: delete or change "
            "them first",
            code="has_alert_rules",
        )


async def _remove_rooms(
    conn: AsyncConnection, room_ids: Sequence[int], mode: CapturesMode, what: str
) -> int:
    """Delete rooms (locked by the caller) with their captures if `mode` allows; how many."""
    await _refuse_users(conn, room_ids, what)
    count = await queries.count_captures(conn, room_ids)
    if count and mode != "delete":
        raise Conflict(
            f"{what} has {count} captures: delete with ?captures=delete to delete them too "
            "(export them first to keep a copy: GET …/captures?format=csv)",
            code="has_captures",
        )
    for room_id in room_ids:
        await queries.delete_room_captures(conn, room_id)
    # Every capture of these rooms is gone: so is every bucket (nothing to recompute).
    await rollup.rooms_removed(conn, room_ids)
    await queries.delete_rooms(conn, room_ids)
    return count


async def delete_room(
    conn: AsyncConnection,
    building: str,
    room: str,
    mode: CapturesMode,
    *,
    token: str | None,
    now: datetime,
) -> AuditEntry:
    # Multi-shard reads (captures counted) come before writes to reference tables (rooms,
    # sensors) and the audit: on Citus the transaction needs one connection per node.
    await citus_modes.one_connection_per_node(conn)
    b = await registry.get_building(conn, building)
    row = await registry.get_room(conn, building, room)
    await locks.lock_rooms(conn, [row.id])  # ingest of this room waits, and we wait for it
    if not await queries.lock_room(conn, row.id):  # a concurrent DELETE came first
        raise NotFound(f"room {room!r} does not exist in building {building!r}")
    count = await _remove_rooms(conn, [row.id], mode, f"room {building!r}/{room!r}")
    entry = NewEntry(now, token, "room", building, b.id, room, row.id, captures_deleted=count)
    return await queries.insert_entry(conn, entry)


async def delete_building(
    conn: AsyncConnection, building: str, mode: CapturesMode, *, token: str | None, now: datetime
) -> AuditEntry:
    await citus_modes.one_connection_per_node(conn)  # see delete_room
    b = await registry.get_building(conn, building)
    if not await queries.lock_building(conn, b.id):
        raise NotFound(f"building {building!r} does not exist")
    rules = await queries.building_alert_rules(conn, b.id)
    if rules:
        raise Conflict(
            f"building {building!r} is named by {_listed('alert rules', rules)}: delete them first",
            code="has_alert_rules",
        )
    room_ids = await queries.select_room_ids(conn, b.id)
    await locks.lock_rooms(conn, room_ids)
    count = await _remove_rooms(conn, room_ids, mode, f"building {building!r}")
    await queries.delete_building(conn, b.id)
    entry = NewEntry(now, token, "building", building, b.id, captures_deleted=count)
    return await queries.insert_entry(conn, entry)


async def delete_sensor_type(
    conn: AsyncConnection, key: str, *, token: str | None, now: datetime
) -> AuditEntry:
    await citus_modes.one_connection_per_node(conn)  # see delete_room
    st = await registry.get_sensor_type(conn, key)
    if not await queries.lock_sensor_type(conn, st.id):
        raise NotFound(f"sensor type {key!r} does not exist")
    users = await queries.sensor_type_users(conn, st.id)
    used = [
        *([f"{users.captures} captures"] if users.captures else []),
        *([_listed("registered sensors", users.sensors)] if users.sensors else []),
        *([_listed("alert rules", users.alert_rules)] if users.alert_rules else []),
    ]
    if used:
        raise Conflict(
            f"sensor type {key!r} is in use: {'; '.join(used)}. Delete those first (captures: "
            "DELETE …/rooms/{room}/captures or the room with ?captures=delete)",
            code="sensor_type_in_use",
        )
    await queries.delete_sensor_type(conn, st.id)
    entry = NewEntry(now, token, "sensor_type", sensor_type=key, sensor_type_id=st.id)
    return await queries.insert_entry(conn, entry)


async def delete_captures(
    conn: AsyncConnection,
    building: str,
    room: str,
    sensor: str | None,
    start: datetime,
    end: datetime,
    *,
    token: str | None,
    now: datetime,
) -> AuditEntry:
    """Delete the room's captures (of one sensor, by key) with start <= ts < end."""
    await citus_modes.one_connection_per_node(conn)  # see delete_room
    if not start < end:
        raise InvalidInput(
            "empty range", [ErrorDetail("`to` must be after `from`", field="to", code="range")]
        )
    b = await registry.get_building(conn, building)
    row = await registry.get_room(conn, building, room)
    sensor_id = None if sensor is None else await sensors.sensor_id(conn, sensor)
    await locks.lock_rooms(conn, [row.id])  # the room's ingest runs before or after, whole
    buckets = await queries.delete_range(conn, row.id, sensor_id, start, end)
    await rollup.captures_removed(conn, [(row.id, s, bucket) for s, bucket, _ in buckets])
    # Open streams of the room refresh (rolling averages read the captures that are left).
    await live.announce(conn, [(row.id, s, bucket, 0.0) for s, bucket, _ in buckets], exact=False)
    entry = NewEntry(
        now,
        token,
        "captures",
        building,
        b.id,
        room,
        row.id,
        sensor=sensor,
        sensor_id=sensor_id,
        start=start,
        end=end,
        captures_deleted=sum(n for _, _, n in buckets),
    )
    return await queries.insert_entry(conn, entry)


async def record_sensor(
    conn: AsyncConnection,
    key: str,
    sensor_id: int,
    captures: int,
    *,
    token: str | None,
    now: datetime,
) -> AuditEntry:
    """Audit a sensor deleted by sensors.service.delete (in the same transaction)."""
    entry = NewEntry(
        now, token, "sensor", sensor=key, sensor_id=sensor_id, captures_deleted=captures
    )
    return await queries.insert_entry(conn, entry)


async def list_entries(
    conn: AsyncConnection, f: AuditFilter, cursor: str | None, limit: int
) -> tuple[list[AuditEntry], str | None]:
    """Newest first, one page at a time (the cursor holds the last id of the page)."""
    before = decode_int_cursor(cursor, 1, _ID_MAX)
    rows = await queries.select_entries(conn, f, before, limit)
    nxt = encode_cursor(str(rows[-1].id)) if len(rows) == limit and rows else None
    return rows, nxt
