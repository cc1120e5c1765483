"""SQL for reading raw captures in time order (keyset pagination on ts, never OFFSET)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# (after, to] with after = max(from, cursor): one index range scan on the primary key.
_PAGE = text(
    """
    SELECT ts, value FROM capture
    WHERE room_id = :room_id AND sensor_type_id = :sensor_type_id
      AND ts > :after AND ts <= :to
    ORDER BY ts
    LIMIT :limit
    """
)


async def select_captures_page(
    conn: AsyncConnection,
    room_id: int,
    sensor_type_id: int,
    after: datetime,
    to: datetime,
    limit: int,
) -> list[tuple[datetime, float]]:
    rows = await conn.execute(
        _PAGE,
        {
            "room_id": room_id,
            "sensor_type_id": sensor_type_id,
            "after": after,
            "to": to,
            "limit": limit,
        },
    )
    return [(r[0], r[1]) for r in rows]
