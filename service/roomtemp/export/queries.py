"""SQL for reading raw captures in time order (keyset pagination on (ts, sensor), never OFFSET)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class CaptureRow:
    ts: datetime
    value: float
    sensor_id: int
    #: the registered key; None for a room's default sensor
    key: str | None
    #: the key in the API: the registered key, or "{building}/{room}/{sensor_type}"
    api_key: str


# The (room, sensor) pairs `p` whose captures an export reads, from room_sensor (every pair an
# assignment ever made, distributed by room_id like capture; migration 0016): a room's sensors
# of a type, or every room a sensor has been in. The lateral below is correlated with it on
# room_id, which is what lets Citus push it down (a CTE of pairs from sensor_assignment, a
# reference table, was refused: "cannot push down this subquery", issue 20).
_ROOM_PAIRS = """
    FROM room_sensor p JOIN sensor pse ON pse.id = p.sensor_id
         AND pse.sensor_type_id = :sensor_type_id
"""
_ROOM_WHERE = "WHERE p.room_id = :room_id"
_SENSOR_PAIRS = "FROM room_sensor p"
_SENSOR_WHERE = "WHERE p.sensor_id = :sensor_id"

# Everything after the cursor (after, after_sensor) up to :to. Per pair one index range scan on
# the primary key that stops after :limit rows; then the pairs' rows merge in (ts, sensor) order
# and only the page's rows are joined to their sensor for its key.
_PAGE = """
    WITH page AS (
        SELECT x.ts, x.value, p.sensor_id
        {pairs}
        CROSS JOIN LATERAL (
            SELECT c.ts, c.value FROM capture c
            WHERE c.room_id = p.room_id AND c.sensor_id = p.sensor_id
              AND c.ts >= :after AND c.ts <= :to
              AND (c.ts > :after OR p.sensor_id > :after_sensor)
            ORDER BY c.ts
            LIMIT :limit
        ) AS x
        {where}
        ORDER BY x.ts, p.sensor_id
        LIMIT :limit
    )
    SELECT page.ts, page.value, page.sensor_id, se.key,
           COALESCE(se.key, b.key || '/' || r.key || '/' || st.key)
    FROM page
    JOIN sensor se ON se.id = page.sensor_id
    JOIN sensor_type st ON st.id = se.sensor_type_id
    LEFT JOIN room r ON r.id = se.default_room_id
    LEFT JOIN building b ON b.id = r.building_id
    ORDER BY page.ts, page.sensor_id
"""
_ROOM_PAGE = text(_PAGE.format(pairs=_ROOM_PAIRS, where=_ROOM_WHERE))
_SENSOR_PAGE = text(_PAGE.format(pairs=_SENSOR_PAIRS, where=_SENSOR_WHERE))


async def select_captures_page(
    conn: AsyncConnection,
    *,
    room_id: int | None,
    sensor_type_id: int,
    sensor_id: int | None,
    after: tuple[datetime, int],
    to: datetime,
    limit: int,
) -> list[CaptureRow]:
    """A room's captures of a sensor type (room_id given) or one sensor's in every room it has
    been in (sensor_id given), in (ts, sensor) order after `after`."""
    params = {
        "sensor_type_id": sensor_type_id,
        "after": after[0],
        "after_sensor": after[1],
        "to": to,
        "limit": limit,
    }
    if sensor_id is not None:
        rows = await conn.execute(_SENSOR_PAGE, {**params, "sensor_id": sensor_id})
    else:
        rows = await conn.execute(_ROOM_PAGE, {**params, "room_id": room_id})
    return [CaptureRow(*r) for r in rows]
