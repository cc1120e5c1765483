"""SQL of live updates: the notify every write sends, and what a fan-out round reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

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
    await conn.execute(_NOTIFY, {"channel": CHANNEL, "bodies": list(bodies)})


@dataclass(frozen=True)
class CaptureRow:
    room_id: int
    sensor_id: int
    building: str
    room: str
    sensor: str  # the API's sensor key (a default sensor's is building/room/type)
    sensor_type: str
    unit: str  # canonical
    ts: datetime
    value: float


# The captures of the given keys as they are now (a key replaced or deleted since the notify
# shows its current value or is missing): one statement for the whole round.
_CAPTURES = text(
    """
    SELECT c.room_id, c.sensor_id, b.key, r.key,
           COALESCE(se.key, db.key || '/' || dr.key || '/' || st.key), st.key, st.unit,
           c.ts, c.value
    FROM unnest(CAST(:room_ids AS integer[]), CAST(:sensor_ids AS integer[]),
                CAST(:ts AS timestamptz[])) AS k(room_id, sensor_id, ts)
    JOIN capture c ON c.room_id = k.room_id AND c.sensor_id = k.sensor_id AND c.ts = k.ts
    JOIN room r ON r.id = c.room_id
    JOIN building b ON b.id = r.building_id
    JOIN sensor se ON se.id = c.sensor_id
    JOIN sensor_type st ON st.id = se.sensor_type_id
    LEFT JOIN room dr ON dr.id = se.default_room_id
    LEFT JOIN building db ON db.id = dr.building_id
    ORDER BY c.ts, c.room_id, c.sensor_id
    """
)


async def select_captures(
    conn: AsyncConnection, keys: Sequence[tuple[int, int, datetime]]
) -> list[CaptureRow]:
    if not keys:
        return []
    rows = await conn.execute(
        _CAPTURES,
        {
            "room_ids": [k[0] for k in keys],
            "sensor_ids": [k[1] for k in keys],
            "ts": [k[2] for k in keys],
        },
    )
    return [CaptureRow(*r) for r in rows]


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
