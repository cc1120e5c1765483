"""Rollup maintenance, called by ingest in the same transaction as the raw insert."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp import units
from roomtemp.rollup import comfort_queries, queries, rebuild_queries, retention
from roomtemp.rollup.retention import RAW, Horizons, refuse, require_raw, resolution

# What other features use of rollup/retention.py (features meet through services).
__all__ = [
    "RAW",
    "Horizons",
    "align_comfort",
    "captures_added",
    "captures_changed",
    "captures_removed",
    "comfort_bounds",
    "comfort_kept",
    "horizons",
    "rebuild",
    "refuse",
    "require_raw",
    "resolution",
    "set_comfort",
]

Key = tuple[int, int, datetime]  # (room_id, sensor_id, ts)


async def captures_changed(conn: AsyncConnection, keys: Sequence[Key]) -> None:
    """Bring the buckets of these (room_id, sensor_id, ts) keys up to date, from the raw captures.

    A key's ts is a capture time or a 15-minute bucket end standing for the captures in
    (ts - 15m, ts]: the 1-hour and 1-day pieces holding any of them are recomputed too, and a
    bucket left without captures keeps a row (after deleting captures use captures_removed).
    For updates, staged ingest, moves and deletes (sensors/)."""
    if keys:
        await queries.refresh_buckets(
            conn, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]
        )


async def captures_added(
    conn: AsyncConnection, keys: Sequence[Key], values: Sequence[float]
) -> None:
    """Bring the buckets up to date after inserting captures under keys not stored before.

    Appending is the common case (sensors post in time order) and merges the new captures into
    the stored rollups; only the 1-hour and 1-day buckets that already hold later captures are
    recomputed from the raw ones.
    """
    if not keys:
        return
    hours, days = await queries.append_captures(
        conn, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys], values
    )
    # A day holding a late hour is late itself; naming those hours again (a 1-hour piece's start
    # lies in its day) only guards that.
    await queries.refresh_pieces(conn, hours, [*days, *hours])


async def captures_removed(conn: AsyncConnection, keys: Sequence[Key]) -> int:
    """After deleting these captures: recompute their buckets, drop the ones left empty.

    Returns how many buckets were dropped."""
    if not keys:
        return 0
    columns = ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])
    # Empty buckets go first: a 1-day piece is merged from the day's 1-hour pieces, so an hour
    # left empty must be gone before its day is recomputed (else the day keeps its captures).
    dropped = await queries.forget_empty_buckets(conn, *columns)
    await queries.refresh_buckets(conn, *columns)
    return dropped


async def rooms_removed(conn: AsyncConnection, room_ids: Sequence[int]) -> int:
    """After deleting every capture of these rooms: drop all their buckets; how many."""
    return await queries.forget_rooms(conn, room_ids) if room_ids else 0


async def rebuild(conn: AsyncConnection, start: datetime, end: datetime) -> None:
    """Recompute all buckets overlapping [start, end] (after loading captures around ingest)."""
    await rebuild_queries.rebuild(conn, start, end)


async def comfort_bounds(
    conn: AsyncConnection, sensor_type_id: int
) -> tuple[float | None, float | None]:
    """The comfort bounds (canonical unit) the 1-h and 1-d rollups count seconds for."""
    return await comfort_queries.select_comfort(conn, sensor_type_id)


async def comfort_kept(
    conn: AsyncConnection, sensor_type_id: int
) -> tuple[float | None, float | None, datetime | None]:
    """The comfort bounds the pieces count seconds for, and from when they all do (None: every
    piece; before it, pieces whose raw captures were dropped keep earlier bounds' seconds)."""
    low, high = await comfort_queries.select_comfort(conn, sensor_type_id)
    return low, high, await comfort_queries.select_comfort_counted_from(conn, sensor_type_id)


async def set_comfort(
    conn: AsyncConnection, sensor_type_id: int, *, low: float | None, high: float | None
) -> bool:
    """Store new comfort bounds for a sensor type and recompute the rollups in the same
    transaction (all buckets over the span of its captures, those holding time before the raw
    horizon excepted: their raw captures are gone, comfort_kept says from when the new bounds
    are counted). Returns whether anything changed.
    """
    if await comfort_queries.select_comfort(conn, sensor_type_id, lock=True) == (low, high):
        return False
    await comfort_queries.update_comfort(conn, sensor_type_id, low, high)
    first, last = await comfort_queries.capture_span(conn, sensor_type_id)
    if first is not None and last is not None:
        await rebuild_queries.rebuild(conn, first, last)
    return True


async def align_comfort(
    conn: AsyncConnection, low_celsius: float, high_celsius: float
) -> list[str]:
    """Give every temperature sensor type these comfort bounds (converted to its unit), so that
    reports with the default bounds read rollups; the keys of the types whose rollups were
    recomputed (`roomtemp maintain` calls it with COMFORT_LOW/HIGH_CELSIUS)."""
    changed = []
    for st_id, key, unit, low, high in await comfort_queries.select_temperature_comfort(
        conn, units.TEMPERATURE_UNITS
    ):
        want = (
            units.convert(low_celsius, units.CELSIUS, unit),
            units.convert(high_celsius, units.CELSIUS, unit),
        )
        if (low, high) != want and await set_comfort(conn, st_id, low=want[0], high=want[1]):
            changed.append(key)
    return changed


async def horizons(conn: AsyncConnection) -> retention.Horizons:
    """Where raw captures and each rollup level start being kept (`roomtemp maintain`)."""
    return retention.Horizons.of(await queries.select_horizons(conn))
