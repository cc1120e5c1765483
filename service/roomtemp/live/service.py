"""Live updates, the domain side: writes announce their changes; the hub fans them out.

Writers call `announce` inside their transaction (capture/service.py `store_final` and the staged
import): one notify per transaction, delivered at commit, dropped on rollback. Each API
process's Hub (hub.py) receives the notifies through one LISTEN connection (listener.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp import units
from roomtemp.average import service as averages
from roomtemp.errors import ErrorDetail, InvalidInput, NotFound
from roomtemp.live import payload, queries
from roomtemp.live.hub import RUNNING, Hub, Subscriber
from roomtemp.live.payload import Change
from roomtemp.registry import service as registry

__all__ = ["RUNNING", "Hub", "Subscriber", "announce", "subscriber"]


async def announce(conn: AsyncConnection, changes: Sequence[Change], *, exact: bool = True) -> None:
    """Announce changed captures (room, sensor, ts, value) to every listening replica at commit.

    `exact=False`: they stand for their rooms only (the staged import's changed buckets);
    streams then refresh those rooms without capture events."""
    if changes:
        await queries.notify(conn, payload.bodies(changes, exact=exact))


async def subscriber(
    conn: AsyncConnection,
    building: str,
    room: str | None,
    *,
    sensor_type: str | None,
    unit: str | None,
    captures: bool,
    queue_rounds: int,
) -> Subscriber:
    """A subscriber for a building's (or one room's) stream, its parameters checked: 404 for an
    unknown building or room, 422 for an unknown sensor type or a unit that fits none."""
    scope = await queries.select_scope(conn, building, room)
    if scope is None:
        what = f"building {building!r}" if room is None else f"room {building!r}/{room!r}"
        raise NotFound(f"{what} does not exist")
    if sensor_type is not None:
        st = await registry.sensor_type_for_query(conn, sensor_type)
        unit = averages.scale_for(st, unit).unit  # 422 if the unit is not one of this type's
    elif unit is not None:
        # Without sensor_type the unit applies to the types it converts: temperature units only.
        try:
            unit = units.normalise(unit)
            units.convert(0.0, "kelvin", unit)
        except units.UnitError:
            message = f"{unit!r} is not a temperature unit; name the sensor_type it belongs to"
            raise InvalidInput(message, [ErrorDetail(message, field="unit")]) from None
    return Subscriber(
        building=building,
        building_id=scope.building_id,
        room=room,
        room_id=scope.room_id,
        sensor_type=sensor_type,
        unit=unit,
        captures=captures,
        queue=asyncio.Queue(maxsize=queue_rounds),
    )
