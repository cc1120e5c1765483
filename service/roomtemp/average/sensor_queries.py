"""SQL for one sensor's own reads: finding it by its API key, and its window statistics over
its captures in whichever rooms it was (the room statements are in average/queries.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.average.queries import SENSOR_PAIRS, WindowStats


@dataclass(frozen=True)
class SensorRow:
    id: int
    #: the key in the API: registered key, or "{building}/{room}/{sensor_type}" for a default
    api_key: str
    sensor_type_id: int
    sensor_type: str
    unit: str
    #: where it is now (its latest assignment)
    building: str
    room: str
    room_id: int


# By registered key, or (when the key has the default form) by its default room and type; one
# statement either way. Where it is now: the assignment with the latest valid_from.
_SENSOR = text(
    """
    SELECT se.id,
           COALESCE(se.key, db.key || '/' || dr.key || '/' || st.key),
           st.id, st.key, st.unit, cb.key, cr.key, cr.id
    FROM sensor se
    JOIN sensor_type st ON st.id = se.sensor_type_id
    LEFT JOIN room dr ON dr.id = se.default_room_id
    LEFT JOIN building db ON db.id = dr.building_id
    CROSS JOIN LATERAL (
        SELECT a.room_id FROM sensor_assignment a
        WHERE a.sensor_id = se.id ORDER BY a.valid_from DESC LIMIT 1
    ) AS now
    JOIN room cr ON cr.id = now.room_id
    JOIN building cb ON cb.id = cr.building_id
    WHERE (CAST(:key AS text) IS NOT NULL AND se.key = :key)
       OR (se.key IS NULL AND db.key = :building AND dr.key = :room AND st.key = :sensor_type)
    """
)


async def select_sensor(conn: AsyncConnection, key: str) -> SensorRow | None:
    parts = key.split("/")
    if len(parts) == 3:
        params = {"key": None, "building": parts[0], "room": parts[1], "sensor_type": parts[2]}
    else:
        params = {"key": key, "building": None, "room": None, "sensor_type": None}
    row = (await conn.execute(_SENSOR, params)).one_or_none()
    return None if row is None else SensorRow(*row)


# One sensor's own statistics over (start, end], in whichever rooms its captures are: each
# capture holds its value until the sensor's next capture or the window end; its last capture at
# or before `start` carries to `start`. The captures are read per room, correlated with
# room_sensor (SENSOR_PAIRS: pushed down on Citus); the rest combines the CTEs.
_SENSOR_WINDOW = text(
    f"""WITH
    w AS (
        SELECT c.ts, c.value FROM {SENSOR_PAIRS}
        JOIN capture c ON c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id
        WHERE c.ts > :start AND c.ts <= :end
    ),
    prev AS (
        SELECT p.ts, p.value FROM {SENSOR_PAIRS} CROSS JOIN LATERAL (
            SELECT c.ts, c.value FROM capture c
            WHERE c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id AND c.ts <= :start
            ORDER BY c.ts DESC LIMIT 1
        ) AS p
        ORDER BY p.ts DESC LIMIT 1
    ),
    seg AS (
        SELECT value,
               CAST(EXTRACT(EPOCH FROM COALESCE(LEAD(ts) OVER (ORDER BY ts), :end) - ts)
                    AS double precision) AS held
        FROM (
            SELECT ts, value FROM w
            UNION ALL SELECT CAST(:start AS timestamptz), value FROM prev
        ) AS p
    )
    SELECT agg.n, agg.mean, agg.lo, agg.hi,
           CASE WHEN agg.n > 0 THEN
               (SELECT SUM(value * held) / NULLIF(SUM(held), 0) FROM seg)
           END AS twm,
           CASE WHEN agg.n > 0 THEN 1 ELSE 0 END
    FROM (
        SELECT COUNT(*) AS n, AVG(value) AS mean, MIN(value) AS lo, MAX(value) AS hi FROM w
    ) AS agg
    """  # noqa: S608 - fixed fragments; values are bound
)


async def select_sensor_window_stats(
    conn: AsyncConnection, sensor_id: int, start: datetime, end: datetime
) -> WindowStats:
    row = (
        await conn.execute(_SENSOR_WINDOW, {"sensor_id": sensor_id, "start": start, "end": end})
    ).one()
    return WindowStats(*row)
