"""SQL of live updates: the notify every write sends, and what a fan-out round reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import driver
from roomtemp.live.payload import CHANNEL

# One round trip whatever the number of notifies. unnest … WITH ORDINALITY yields the bodies in
# order, and nextval runs once per row; it is never rolled back (a number of an aborted write
# is simply never seen: ids have gaps, they only grow).
_NOTIFY = text(
    """
    SELECT pg_notify(:channel, '{"seq":' || nextval('live_event_seq') || ',' || b.body)
    FROM unnest(CAST(:bodies AS text[])) WITH ORDINALITY AS b(body, n)
    """
)


async def notify(conn: AsyncConnection, bodies: Sequence[str]) -> None:
    await driver.fetch_all(
        conn, _NOTIFY, {"channel": CHANNEL, "bodies": list(bodies)}, name="notify"
    )


@dataclass(frozen=True)
class SensorNames:
    sensor: str  # the API's sensor key (a default sensor's is building/room/type)
    sensor_type: str
    unit: str  # canonical


# Names of the sensors of a round's captures (the values come with the notify): primary-key
# lookups in small tables, never a read of the captures themselves.
_SENSORS = text(
    """
    SELECT se.id, COALESCE(se.key, db.key || '/' || dr.key || '/' || st.key), st.key, st.unit
    FROM sensor se
    JOIN sensor_type st ON st.id = se.sensor_type_id
    LEFT JOIN room dr ON dr.id = se.default_room_id
    LEFT JOIN building db ON db.id = dr.building_id
    WHERE se.id = ANY(CAST(:ids AS integer[]))
    """
)


async def select_sensor_names(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, SensorNames]:
    if not ids:
        return {}
    rows = await conn.execute(_SENSORS, {"ids": list(ids)})
    return {r[0]: SensorNames(*r[1:]) for r in rows}


@dataclass(frozen=True)
class Scope:
    building_id: int
    room_id: int | None  # None: the whole building


_SCOPE = text(
    """
    SELECT b.id, r.id FROM building b
    LEFT JOIN room r ON r.building_id = b.id AND r.key = CAST(:room AS text)
    WHERE b.key = :building
    """
)
_ROOMS = text("SELECT id FROM room WHERE building_id = :building_id ORDER BY id")


async def select_scope(conn: AsyncConnection, building: str, room: str | None) -> Scope | None:
    """The ids of a building (and room); None if either is unknown."""
    row = (await conn.execute(_SCOPE, {"building": building, "room": room})).first()
    if row is None or (room is not None and row[1] is None):
        return None
    return Scope(row[0], row[1])


async def select_room_ids(conn: AsyncConnection, building_id: int) -> list[int]:
    return list((await conn.execute(_ROOMS, {"building_id": building_id})).scalars())
