"""SQL for partition maintenance (catalog reads, DDL, moving rows out of the default partition)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import citus_modes

_PARTITION_NAME = re.compile(r"capture_p\d{6}(\d{2})?")
# Any constant works; it only has to be the same for every `roomtemp maintain`.
_LOCK_KEY = 0x726F6F6D74656D70  # "roomtemp"


async def lock(conn: AsyncConnection) -> None:
    """Wait for the maintenance lock; held until the transaction ends. Also puts the
    transaction in Citus' sequential modify mode (roomtemp.db.citus_modes)."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    await citus_modes.one_connection_per_node(conn)


async def partition_names(conn: AsyncConnection) -> list[str]:
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST('capture' AS regclass) ORDER BY c.relname"
        )
    )
    return [r[0] for r in rows]


async def default_periods(conn: AsyncConnection, interval: str) -> list[datetime]:
    """Start (UTC) of every `interval` ('month' or 'day') that has rows in the default partition."""
    rows = await conn.execute(
        text(
            "SELECT DISTINCT date_trunc(:interval, ts, 'UTC') AS p FROM capture_default ORDER BY p"
        ),
        {"interval": interval},
    )
    return [r[0] for r in rows]


def _ident(name: str) -> str:
    # Partition names are built by partitions.service from dates; refuse anything else.
    if not _PARTITION_NAME.fullmatch(name):
        raise ValueError(f"not a capture partition name: {name!r}")
    return '"' + name + '"'


def _literal(ts: datetime) -> str:
    # DDL takes no bind parameters; bounds are datetimes computed here, never user text.
    return "'" + ts.isoformat() + "'"


async def create_partition(conn: AsyncConnection, name: str, start: datetime, end: datetime) -> int:
    """Create partition `name` for [start, end); rows of that range in the default move into it.

    PostgreSQL refuses a new partition while the default holds rows of its range, so those rows
    are parked in a temporary table, the partition is created, and they are inserted again.
    Returns how many rows moved.
    """
    params = {"start": start, "end": end}
    await conn.execute(text("CREATE TEMP TABLE moved_capture (LIKE capture) ON COMMIT DROP"))
    moved = await conn.execute(
        text(
            "WITH d AS (DELETE FROM capture_default WHERE ts >= :start AND ts < :end "
            "RETURNING ts, value, room_id, sensor_id) "
            "INSERT INTO moved_capture (ts, value, room_id, sensor_id) SELECT * FROM d"
        ),
        params,
    )
    await conn.execute(
        text(
            f"CREATE TABLE {_ident(name)} PARTITION OF capture "
            f"FOR VALUES FROM ({_literal(start)}) TO ({_literal(end)})"
        )
    )
    await conn.execute(
        text(
            "INSERT INTO capture (ts, value, room_id, sensor_id) "
            "SELECT ts, value, room_id, sensor_id FROM moved_capture"
        )
    )
    await conn.execute(text("DROP TABLE moved_capture"))
    return moved.rowcount


async def drop_partition(conn: AsyncConnection, name: str) -> int:
    """Drop a whole partition; returns how many rows it held."""
    table = _ident(name)
    count = await conn.scalar(text(f"SELECT count(*) FROM {table}"))  # noqa: S608
    await conn.execute(text(f"ALTER TABLE capture DETACH PARTITION {table}"))
    await conn.execute(text(f"DROP TABLE {table}"))
    return int(count or 0)


async def delete_default_before(conn: AsyncConnection, cutoff: datetime) -> int:
    """Delete rows before `cutoff` from the default partition; how many."""
    result = await conn.execute(
        text("DELETE FROM capture_default WHERE ts < :cutoff"), {"cutoff": cutoff}
    )
    return result.rowcount


# Rollups (rollup/) are kept by their own retention, each level in one table. Data of a level
# before its horizon is gone: the 15-minute buckets are keyed by their end and hold
# (bucket - 15m, bucket], so the one ending at the horizon still holds the captures at it and
# stays; the 1-hour and 1-day pieces are keyed by their start and hold [start, start + stride).
ROLLUP_TABLES = {
    "15m": ("capture_rollup_15m", "bucket"),
    "1h": ("capture_rollup_1h", "start"),
    "1d": ("capture_rollup_1d", "start"),
}


async def delete_rollups_before(conn: AsyncConnection, level: str, horizon: datetime) -> int:
    """Delete the buckets of rollup `level` keyed before `horizon`; how many."""
    table, column = ROLLUP_TABLES[level]
    delete = f"DELETE FROM {table} WHERE {column} < :h"  # noqa: S608 - a known table
    return (await conn.execute(text(delete), {"h": horizon})).rowcount


async def horizons(conn: AsyncConnection) -> dict[str, datetime]:
    """Per level ('raw', '15m', '1h', '1d'), the instant before which its data was dropped."""
    rows = await conn.execute(text("SELECT level, dropped_before FROM retention_horizon"))
    return {r[0]: r[1] for r in rows}


async def record_horizon(conn: AsyncConnection, level: str, horizon: datetime) -> None:
    """Move the horizon of `level` forward to `horizon` (never back)."""
    await conn.execute(
        text(
            "INSERT INTO retention_horizon (level, dropped_before) VALUES (:level, :h) "
            "ON CONFLICT (level) DO UPDATE SET dropped_before = "
            "GREATEST(retention_horizon.dropped_before, EXCLUDED.dropped_before)"
        ),
        {"level": level, "h": horizon},
    )


# -- compaction of ended partitions ------------------------------------------------------------
_PKEY_NAME = re.compile(_PARTITION_NAME.pattern + "_pkey")  # PostgreSQL's name for a PK


async def session_lock(conn: AsyncConnection) -> None:
    """The maintenance lock for work outside a transaction (REINDEX CONCURRENTLY)."""
    await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})


async def session_unlock(conn: AsyncConnection) -> None:
    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})


async def uncompacted_primary_keys(conn: AsyncConnection) -> list[tuple[str, str]]:
    """(partition, primary-key index) of every partition whose index is not at fillfactor 100."""
    rows = await conn.execute(
        text(
            "SELECT c.relname, ic.relname FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_index x ON x.indrelid = c.oid AND x.indisprimary "
            "JOIN pg_class ic ON ic.oid = x.indexrelid "
            "WHERE i.inhparent = CAST('capture' AS regclass) "
            "AND NOT COALESCE(ic.reloptions, CAST('{}' AS text[])) @> ARRAY['fillfactor=100'] "
            "ORDER BY c.relname"
        )
    )
    return [(r[0], r[1]) for r in rows]


async def compact_primary_key(conn: AsyncConnection, index: str) -> None:
    """Rebuild the index with full leaf pages, without blocking writes. Needs autocommit."""
    if not _PKEY_NAME.fullmatch(index):
        raise ValueError(f"not a capture partition index: {index!r}")
    await conn.execute(text(f'ALTER INDEX "{index}" SET (fillfactor = 100)'))
    await conn.execute(text(f'REINDEX INDEX CONCURRENTLY "{index}"'))


async def relation_size(conn: AsyncConnection, name: str) -> int:
    size = await conn.scalar(text("SELECT pg_relation_size(CAST(:n AS regclass))"), {"n": name})
    return int(size or 0)
