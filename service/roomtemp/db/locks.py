"""Transaction-level advisory locks on rooms and on sensors.

Rooms: writers of a room's captures run one after the other (see lock_rooms). Sensors: where a
sensor is (sensor_assignment) must not change while a transaction attributes its captures to rooms.

Ingest holds a sensor's lock SHARED from before it reads the sensor's assignments until it
commits; moving a sensor (or deleting its captures) holds it EXCLUSIVELY. So a move waits for the
batches that attributed captures under the old assignment, and a batch that starts after a move
reads the new one. (class, sensor id) keys, apart from the room locks' class.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import arrays, driver

SENSOR_LOCK_CLASS = 727274003

# A transaction-level advisory lock per room, taken in id order before a batch's captures are
# read or written: two transactions with captures of the same room run one after the other, so
# the second reads what the first committed (its new/duplicate/updated counts and its rollup
# merges build on it instead of counting the same capture twice). (class, room id) keys; the
# two-integer key space is apart from the single-bigint one the other locks use.
ROOM_LOCK_CLASS = 727274002
_LOCK_ROOMS = text(
    "SELECT count(pg_advisory_xact_lock(:lock_class, r)) "
    "FROM unnest(CAST(:room_ids AS integer[])) AS r"
)


async def lock_rooms(conn: AsyncConnection, room_ids: Sequence[int]) -> None:
    """Wait for, then hold until the transaction ends, the locks of these rooms."""
    await driver.fetch_all(
        conn,
        _LOCK_ROOMS,
        {"lock_class": ROOM_LOCK_CLASS, "room_ids": arrays.int_literal(sorted(set(room_ids)))},
        name="lock rooms",
    )


_SHARE = text(
    "SELECT count(pg_advisory_xact_lock_shared(:lock_class, s)) "
    "FROM unnest(CAST(:sensor_ids AS integer[])) AS s"
)
_EXCLUSIVE = text("SELECT pg_advisory_xact_lock(:lock_class, :sensor_id)")


async def share_sensors(conn: AsyncConnection, sensor_ids: Sequence[int]) -> None:
    """Hold these sensors' locks shared until the transaction ends (in id order: no deadlock)."""
    ids = arrays.int_literal(sorted(set(sensor_ids)))
    params = {"lock_class": SENSOR_LOCK_CLASS, "sensor_ids": ids}
    await driver.fetch_all(conn, _SHARE, params, name="share sensor locks")


async def lock_sensor(conn: AsyncConnection, sensor_id: int) -> None:
    """Hold this sensor's lock exclusively until the transaction ends."""
    await conn.execute(_EXCLUSIVE, {"lock_class": SENSOR_LOCK_CLASS, "sensor_id": sensor_id})


# A sensor type's comfort bounds: rollup statements summarise with them, holding the type's lock
# SHARED until commit; set_comfort holds it EXCLUSIVELY while it changes them and recomputes. So a
# change waits for the batches that summarised with the old bounds, and later batches read the
# new ones. An advisory lock, not FOR KEY SHARE on sensor_type: on Citus a row lock on a
# reference table is a write on every node, and concurrent batches deadlocked on it.
SENSOR_TYPE_LOCK_CLASS = 727274004
_SHARE_TYPES = text(
    "SELECT count(pg_advisory_xact_lock_shared(:lock_class, t)) "
    "FROM unnest(CAST(:type_ids AS integer[])) AS t"
)


async def share_sensor_types(conn: AsyncConnection, type_ids: Sequence[int]) -> None:
    """Hold these sensor types' locks shared until the transaction ends (in id order)."""
    ids = arrays.int_literal(sorted(set(type_ids)))
    params = {"lock_class": SENSOR_TYPE_LOCK_CLASS, "type_ids": ids}
    await driver.fetch_all(conn, _SHARE_TYPES, params, name="share sensor type locks")


async def lock_sensor_type(conn: AsyncConnection, type_id: int) -> None:
    """Hold this sensor type's lock exclusively until the transaction ends."""
    await conn.execute(_EXCLUSIVE, {"lock_class": SENSOR_TYPE_LOCK_CLASS, "sensor_id": type_id})
