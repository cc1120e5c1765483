"""`room_sensor`: every (room, sensor) pair a sensor assignment made (migration 0016 says why it
exists: on Citus it is the distributed, co-located relation the per-sensor laterals are correlated
with). Every statement that inserts into `sensor_assignment` is followed by `record` in the same
transaction; the deletes (roomtemp.deletion) remove the pairs with the assignments.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import arrays

# Key order: one lock order across concurrent transactions recording overlapping pairs.
_RECORD = text(
    "INSERT INTO room_sensor (room_id, sensor_id)"
    " SELECT i.r, i.s"
    " FROM unnest(CAST(:rooms AS integer[]), CAST(:sensors AS integer[])) AS i(r, s)"
    " ORDER BY i.r, i.s ON CONFLICT DO NOTHING"
)


async def record(conn: AsyncConnection, pairs: Iterable[tuple[int, int]]) -> None:
    """Record (room id, sensor id) pairs; the ones already there are left as they are."""
    unique = sorted(set(pairs))
    if unique:
        await conn.execute(
            _RECORD,
            {
                "rooms": arrays.int_literal(p[0] for p in unique),
                "sensors": arrays.int_literal(p[1] for p in unique),
            },
        )


#: Every pair of `sensor_assignment` recorded: for data written with SQL beside the service
#: (tests, bench datasets, migration-era copies), after their assignment rows.
RECORD_ALL = (
    "INSERT INTO room_sensor (room_id, sensor_id)"
    " SELECT DISTINCT room_id, sensor_id FROM sensor_assignment ON CONFLICT DO NOTHING"
)
