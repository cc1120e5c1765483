"""Rollup maintenance, called by ingest in the same transaction as the raw insert."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.rollup import queries


async def captures_changed(
    conn: AsyncConnection, keys: Sequence[tuple[int, int, datetime]]
) -> None:
    """Bring the buckets of these (room_id, sensor_type_id, ts) keys up to date."""
    if keys:
        await queries.refresh_buckets(
            conn, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]
        )


async def rebuild(conn: AsyncConnection, start: datetime, end: datetime) -> None:
    """Recompute all buckets overlapping [start, end] (after loading captures around ingest)."""
    await queries.rebuild(conn, start, end)
