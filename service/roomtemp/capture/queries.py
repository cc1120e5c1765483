"""SQL for storing captures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import arrays, driver, locks

CaptureKey = tuple[int, int, datetime]

# Room locks live in db/locks.py (moving a sensor takes them too); ingest uses them from here.
lock_rooms = locks.lock_rooms

# Two statements per batch, both over the batch's rows: first the stored values of its keys, then
# the upsert. The rooms' locks (lock_rooms) are held, so nothing changes the keys in between.
# One statement with `existing` as a CTE beside the upsert read the rows as they were before the
# statement on plain PostgreSQL, but not on Citus, which runs the CTEs as separate steps: there
# the read saw the rows the upsert had just written and every new capture counted as a
# duplicate (issue 20). RETURNING a system column to tell inserts apart fails on partitioned
# tables. `room_id = ANY` lets Citus prune to the batch's shards; it takes the batch's distinct
# rooms, not its column of 10,000 room ids: PostgreSQL prepares the array for every index probe
# of the join (0.9 s for a batch of 10,000 over 1,000 rooms; 0.1 s with the distinct ones).
# Identical re-sends are not rewritten.
_EXISTING = text(
    f"""
    SELECT c.room_id, c.sensor_id, c.ts, c.value
    FROM capture c JOIN ({arrays.CAPTURE_ROWS}) AS i USING (room_id, sensor_id, ts)
    WHERE c.room_id = ANY(CAST(:distinct_rooms AS integer[])) AND c.ts >= :lo AND c.ts <= :hi
    """  # noqa: S608 - fixed fragments; values are bound
)
_UPSERT = text(
    f"""
    INSERT INTO capture (ts, value, room_id, sensor_id)
    SELECT ts, value, room_id, sensor_id FROM ({arrays.CAPTURE_ROWS}) AS i
    ON CONFLICT (room_id, sensor_id, ts)
    DO UPDATE SET value = EXCLUDED.value WHERE capture.value <> EXCLUDED.value
    """  # noqa: S608 - fixed fragments; values are bound
)


async def upsert_captures(
    conn: AsyncConnection,
    room_ids: Sequence[int],
    sensor_ids: Sequence[int],
    ts: Sequence[datetime],
    values: Sequence[float],
) -> dict[CaptureKey, float]:
    """Insert or replace captures (keys must be unique); returns the values they replaced."""
    if not ts:
        return {}
    params = {
        "room_ids": arrays.int_literal(room_ids),
        "sensor_ids": arrays.int_literal(sensor_ids),
        "ts": arrays.micros_literal(ts),
        "vals": arrays.float_literal(values),
    }
    # The single captures' path, one transaction per micro-batch: on the driver (db/driver.py).
    rows = await driver.fetch_all(
        conn,
        _EXISTING,
        # The batch's time range as well: only the partitions it can touch are read, and the
        # planner cannot choose to scan every capture of its rooms (0.5-2 s once a partition
        # held 6 M captures, where the staged read, bounded so, stayed under 0.5 s).
        {
            **params,
            "distinct_rooms": arrays.int_literal(sorted(set(room_ids))),
            "lo": min(ts),
            "hi": max(ts),
        },
        name="select capture",
    )
    replaced = {(r, s, t): v for r, s, t, v in rows}
    await driver.fetch_all(conn, _UPSERT, params, name="insert capture")
    return replaced


# The staged load (big API batches and the importer's chunks): binary COPY into a temporary table,
# then the same two steps as above, each reading the staged rows: the stored values of their
# keys, then one INSERT … SELECT. The caller gets what upsert_captures returns (the values
# replaced), so counting, the rollups' append-or-recompute choice and the live announcements are
# the statement path's own. The table lives only inside the caller's transaction (ON COMMIT
# DROP, and dropped at the end so a transaction may stage twice): nothing depends on session
# state, which PgBouncer in transaction pooling mode would not keep.
_STAGE = text("CREATE TEMP TABLE capture_stage (LIKE capture) ON COMMIT DROP")
_COPY_STAGE = "COPY capture_stage (room_id, sensor_id, ts, value) FROM STDIN (FORMAT BINARY)"
_COPY_TYPES = ["int4", "int4", "timestamptz", "float8"]
_DROP_STAGE = text("DROP TABLE capture_stage")

# Citus refuses a temporary (local) table joined with a distributed one, and a subquery
# correlated with it (issue 20): the staged keys are read once in a MATERIALIZED CTE (Citus ships
# them to the workers as an intermediate result) and joined with capture there (pushed down:
# room_id = ANY prunes to the batch's shards, the bounds on c.ts skip the partitions the batch
# cannot touch). On plain PostgreSQL it is an index lookup per staged key or a scan of the
# batch's rooms over its time range, whichever the planner finds cheaper: never the whole time
# range of every room (what a join without the room filter was planned as).
_STAGED_EXISTING = text(
    """
    WITH s AS MATERIALIZED (SELECT room_id, sensor_id, ts FROM capture_stage)
    SELECT c.room_id, c.sensor_id, c.ts, c.value
    FROM capture c JOIN s USING (room_id, sensor_id, ts)
    WHERE c.room_id = ANY(CAST(:room_ids AS integer[])) AND c.ts >= :lo AND c.ts <= :hi
    """
)
# An INSERT … SELECT from the staging table alone: Citus runs the SELECT on the coordinator and
# sends its rows to the shards. Identical re-sends are not rewritten.
_UPSERT_STAGED = text(
    """
    INSERT INTO capture (ts, value, room_id, sensor_id)
    SELECT ts, value, room_id, sensor_id FROM capture_stage
    ORDER BY room_id, sensor_id, ts
    ON CONFLICT (room_id, sensor_id, ts)
    DO UPDATE SET value = EXCLUDED.value WHERE capture.value IS DISTINCT FROM EXCLUDED.value
    """
)

# When none of the staged keys is stored (the common case: new readings), a plain INSERT: the
# rooms' locks are held since before the read, so no other writer can have stored one since,
# and ON CONFLICT's speculative insertion cost 15-20 % more (10,000 rows: 116-156 ms against
# 100-127 ms on the bench database).
_INSERT_STAGED = text(
    """
    INSERT INTO capture (ts, value, room_id, sensor_id)
    SELECT ts, value, room_id, sensor_id FROM capture_stage
    ORDER BY room_id, sensor_id, ts
    """
)


async def upsert_captures_copy(
    conn: AsyncConnection, keys: Sequence[CaptureKey], values: Sequence[float]
) -> dict[CaptureKey, float]:
    """upsert_captures through a binary COPY into a transaction-local staging table (keys must
    be unique; keys in order keep one lock order across transactions): the values replaced.
    The caller holds the rooms' locks (lock_rooms)."""
    if not keys:
        return {}
    await conn.execute(_STAGE)
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    async with raw.cursor() as cur, cur.copy(_COPY_STAGE) as copy:
        copy.set_types(_COPY_TYPES)
        for (room_id, sensor_id, ts), value in zip(keys, values, strict=True):
            await copy.write_row((room_id, sensor_id, ts, value))
    params = {
        "room_ids": sorted({k[0] for k in keys}),
        "lo": min(k[2] for k in keys),
        "hi": max(k[2] for k in keys),
    }
    # Binary results: a re-sent batch brings every key back, and text timestamps parse slowly.
    rows = await driver.fetch_all_binary(
        conn, _STAGED_EXISTING, params, name="select stored captures of the staged keys"
    )
    replaced = {(r, s, t): v for r, s, t, v in rows}
    await conn.execute(_UPSERT_STAGED if replaced else _INSERT_STAGED)
    await conn.execute(_DROP_STAGE)
    return replaced
