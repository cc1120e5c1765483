"""A sensor type's comfort bounds, as the rollup pieces count them: read, locked against
ingest while they change, and where they are counted from (the raw horizon)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import locks
from roomtemp.rollup.queries import RAW_FROM

_COMFORT = text("SELECT comfort_low, comfort_high FROM sensor_type WHERE id = :id")
_COMFORT_LOCKED = text(
    "SELECT comfort_low, comfort_high FROM sensor_type WHERE id = :id FOR UPDATE"
)


async def select_comfort(
    conn: AsyncConnection, sensor_type_id: int, *, lock: bool = False
) -> tuple[float | None, float | None]:
    """The stored bounds of a sensor type; `lock`: locked against ingest until the transaction
    ends."""
    if lock:
        await locks.lock_sensor_type(conn, sensor_type_id)
    stmt = _COMFORT_LOCKED if lock else _COMFORT
    row = (await conn.execute(stmt, {"id": sensor_type_id})).one()
    return row[0], row[1]


async def select_temperature_comfort(
    conn: AsyncConnection, unit_names: Sequence[str]
) -> list[tuple[int, str, str, float | None, float | None]]:
    rows = await conn.execute(
        text(
            "SELECT id, key, unit, comfort_low, comfort_high FROM sensor_type "
            "WHERE unit = ANY(:units) ORDER BY id"
        ),
        {"units": list(unit_names)},
    )
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


_UPDATE_COMFORT = text(
    f"""UPDATE sensor_type SET comfort_low = :low, comfort_high = :high,
           comfort_counted_from = NULLIF({RAW_FROM}, CAST('-infinity' AS timestamptz))
       WHERE id = :id"""  # noqa: S608 - a fixed fragment; values are bound
)


async def update_comfort(
    conn: AsyncConnection, sensor_type_id: int, low: float | None, high: float | None
) -> None:
    """New bounds, counted by the pieces from the raw horizon on (all of them without one)."""
    await conn.execute(_UPDATE_COMFORT, {"id": sensor_type_id, "low": low, "high": high})


async def select_comfort_counted_from(
    conn: AsyncConnection, sensor_type_id: int
) -> datetime | None:
    return await conn.scalar(  # type: ignore[no-any-return]
        text("SELECT comfort_counted_from FROM sensor_type WHERE id = :id"),
        {"id": sensor_type_id},
    )


async def capture_span(
    conn: AsyncConnection, sensor_type_id: int
) -> tuple[datetime | None, datetime | None]:
    row = (
        await conn.execute(
            text(
                "SELECT min(ts), max(ts) FROM capture"
                " WHERE sensor_id IN (SELECT id FROM sensor WHERE sensor_type_id = :id)"
            ),
            {"id": sensor_type_id},
        )
    ).one()
    return row[0], row[1]
