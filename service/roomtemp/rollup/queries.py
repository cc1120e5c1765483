"""SQL that keeps the rollup tables exact.

capture_rollup_15m is keyed by its bucket's END and holds the captures with end - 15m < ts <= end,
the side of the rolling windows (t - window, t], so a window that is a multiple of 15 minutes
and ends on a bucket edge is exactly a union of buckets (`roomtemp_bucket(ts, stride)`, the end).

capture_rollup_1h and capture_rollup_1d are pieces (see db/pieces.py), LEFT-closed (migration
0009): keyed by their START, they hold the captures with start <= ts < start + stride
(`roomtemp_bucket_start(ts, stride)`, the start), the side of report periods [from, to) and of
series buckets [t, t + step), so a period or bucket on hour edges is a union of whole pieces.
The 1-hour ones come from the raw captures, the 1-day ones are merged from that (UTC) day's 24
1-hour pieces. Their seconds below/above comfort are counted for the bounds stored on the
sensor type (`sensor_type.comfort_low/high`, canonical unit; NULL counts nothing); set_comfort
changes those bounds and recomputes in the same transaction. The bucket arithmetic lives in
those two SQL functions (migrations 0004 and 0009), so it can change per engine.

Captures under new keys are merged into the stored buckets (APPEND): sensors post in time
order, so that is the common case, and it reads no raw captures. A 1-hour or 1-day piece takes
them only when they all come after its last capture; otherwise that bucket is recomputed from the
raw captures (late data), as is every bucket of a batch that changed a stored value (a
last-write-wins update can lower or raise a min or max). A bucket's sum is a sum of its own
captures in either case, only added in another order, so rounding cannot build up beyond one
bucket.

Raw captures are dropped by retention while the rollups stay (partitions/): no statement here
recomputes, merges into or forgets a bucket that holds time before the raw horizon
(retention_horizon, level 'raw', a UTC midnight), since its raw captures are partly gone. Those
are the 15-minute buckets ending before horizon + 15 minutes and the pieces starting before the
horizon. Ingest refuses captures that old (beyond_retention); one it accepts within its clock
skew margin of the horizon joins no such bucket either (and its raw row goes at the next
`roomtemp maintain`), and recomputations (updates, deletes, comfort changes, rebuilds after
imports) leave them as they are.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import arrays, driver, locks, pieces

# Distinct (room, sensor, bucket) of a batch of capture keys: `bucket` is the 15-minute bucket's
# end (_KEYS) or the piece's start (_PIECE_KEYS); {stride} is a literal.
_KEYS_OF = f"""
    SELECT DISTINCT room_id, sensor_id,
           {{function}}({arrays.timestamptz_of_micros("i.us")}, interval '{{stride}}') AS bucket
    FROM unnest(CAST(:room_ids AS integer[]), CAST(:sensor_ids AS integer[]),
                CAST(:ts AS bigint[])) AS i(room_id, sensor_id, us)
"""  # noqa: S608 - fixed fragments; values are bound
_KEYS = _KEYS_OF.replace("{function}", "roomtemp_bucket")
# The raw horizon: captures before it were dropped (-infinity: none were).
RAW_FROM = (
    "(SELECT COALESCE(max(dropped_before), CAST('-infinity' AS timestamptz))"
    " FROM retention_horizon WHERE level = 'raw')"
)
# Buckets holding no dropped time: 15-minute ones (end-keyed) and pieces (start-keyed).
_LIVE_15M = "{b} >= " + RAW_FROM + " + interval '15 minutes'"
LIVE_PIECE = "{b} >= " + RAW_FROM
_PIECE_KEYS = _KEYS_OF.replace("{function}", "roomtemp_bucket_start")

# The comfort bounds of the batch's sensors' types, read first (select_bounds) and passed to the
# statements as arrays: `st` below and _BOUND in the merge's ON CONFLICT. Reading the sensor and
# sensor_type tables inside those statements fails on Citus: the ON CONFLICT clause runs on each
# shard, where a reference table is a distributed query ("cannot execute a distributed query from
# a query on a shard"). The types' locks are taken (shared) before the bounds are read: a
# set_comfort waits for transactions that summarised with the old bounds, and later ones read
# the new bounds (db/locks.py). A sensor's type never changes.
_SENSOR_TYPES = text(
    "SELECT DISTINCT sensor_type_id FROM sensor WHERE id = ANY(CAST(:sensor_ids AS integer[]))"
)
_SELECT_BOUNDS = text(
    "SELECT s.id, t.comfort_low, t.comfort_high"
    " FROM sensor s JOIN sensor_type t ON t.id = s.sensor_type_id"
    " WHERE s.id = ANY(CAST(:sensor_ids AS integer[]))"
)
_BOUND_ROWS = (
    "unnest(CAST(:bound_ids AS integer[]), CAST(:bound_lows AS double precision[]),"
    " CAST(:bound_highs AS double precision[])) AS {alias}(id, comfort_low, comfort_high)"
)
_BOUNDS = f"""
    st AS (SELECT * FROM {_BOUND_ROWS.format(alias="b")})
"""  # noqa: S608 - fixed fragments; values are bound


def _nullable(values: Sequence[float | None]) -> str:
    return "{" + ",".join("NULL" if v is None else repr(v) for v in values) + "}"


async def select_bounds(conn: AsyncConnection, sensor_ids: Sequence[int]) -> dict[str, str]:
    """The bounds of these sensors' types, their locks held shared, as the statements' params."""
    ids = {"sensor_ids": arrays.int_literal(sorted(set(sensor_ids)))}
    types = await driver.fetch_all(conn, _SENSOR_TYPES, ids, name="select sensor types of sensors")
    await locks.share_sensor_types(conn, [t[0] for t in types])
    rows = await driver.fetch_all(conn, _SELECT_BOUNDS, ids, name="select comfort bounds")
    return {
        "bound_ids": arrays.int_literal(r[0] for r in rows),
        "bound_lows": _nullable([r[1] for r in rows]),
        "bound_highs": _nullable([r[2] for r in rows]),
        # json writes each double's shortest round-trip form: the same double comes back.
        "bound_map": json.dumps({str(r[0]): [r[1], r[2]] for r in rows}),
    }


_PIECE_UPSERT = """
    ON CONFLICT (room_id, sensor_id, start) DO UPDATE
    SET {assign}
    WHERE ({old}) IS DISTINCT FROM ({new})
"""


def upsert_tail() -> str:
    return _PIECE_UPSERT.format(
        assign=", ".join(f"{c} = EXCLUDED.{c}" for c in pieces.COLUMNS),
        old=pieces.column_list("r."),
        new=pieces.column_list("EXCLUDED."),
    )


# Rows are inserted in key order so concurrent transactions lock rollup rows in the same order.
# Each bucket's captures come from a join with the batch's keys, grouped per bucket (not an
# aggregate in a LATERAL per key, which Citus refuses: "aggregates without group by"); grouped by
# capture's room_id, the distribution column, so Citus runs it on the batch's shards. An inner
# join keeps only the buckets that still hold captures, as `count > 0` did.
REFRESH_15M = text(
    f"""
    INSERT INTO capture_rollup_15m AS r (bucket, sum, min, max, count, room_id, sensor_id)
    SELECT k.bucket, SUM(c.value), MIN(c.value), MAX(c.value), COUNT(*), c.room_id, c.sensor_id
    FROM ({_KEYS.format(stride="15 minutes")}) AS k
    JOIN capture c
      ON c.room_id = k.room_id AND c.sensor_id = k.sensor_id
     AND c.ts > k.bucket - interval '15 minutes' AND c.ts <= k.bucket
    WHERE {_LIVE_15M.format(b="k.bucket")}
    GROUP BY c.room_id, c.sensor_id, k.bucket
    ORDER BY c.room_id, c.sensor_id, k.bucket
    ON CONFLICT (room_id, sensor_id, bucket) DO UPDATE
    SET sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max, count = EXCLUDED.count
    WHERE (r.sum, r.min, r.max, r.count)
          IS DISTINCT FROM (EXCLUDED.sum, EXCLUDED.min, EXCLUDED.max, EXCLUDED.count)
    """  # noqa: S608 - fixed fragments; values are bound
)


def _refresh_pieces(table: str, summary: str, rows: str, alias: str) -> TextClause:
    """Recompute the pieces of `table` for the batch's buckets from `rows` (a subquery aliased
    `alias` joining the keys k with what they hold: the piece start as `bucket`, then room_id,
    sensor_id and what `summary` reads), one piece per (room, sensor, bucket)."""
    return text(
        f"""
    WITH {_BOUNDS}
    INSERT INTO {table} AS r (start, room_id, sensor_id, {pieces.column_list()})
    SELECT {alias}.bucket, {alias}.room_id, {alias}.sensor_id, {summary}
    FROM ({rows}) AS {alias}
    JOIN st ON st.id = {alias}.sensor_id
    WHERE {LIVE_PIECE.format(b=alias + ".bucket")}
    GROUP BY {alias}.room_id, {alias}.sensor_id, {alias}.bucket, st.comfort_low, st.comfort_high
    ORDER BY {alias}.room_id, {alias}.sensor_id, {alias}.bucket
    {upsert_tail()}
    """  # noqa: S608 - fixed fragments; values are bound
    )


# One hour's captures summarised into a piece (the same fragment as the report's raw edges).
REFRESH_1H = _refresh_pieces(
    "capture_rollup_1h",
    pieces.of_captures("st.comfort_low", "st.comfort_high"),
    f"""
            SELECT k.bucket, c.room_id, c.sensor_id, c.ts, c.value, date_part('epoch', c.ts) AS at,
                   date_part('epoch', LEAD(c.ts) OVER (
                       PARTITION BY c.room_id, c.sensor_id, k.bucket ORDER BY c.ts) - c.ts) AS held
            FROM ({_PIECE_KEYS.format(stride="1 hour")}) AS k
            JOIN capture c
              ON c.room_id = k.room_id AND c.sensor_id = k.sensor_id
             AND c.ts >= k.bucket AND c.ts < k.bucket + interval '1 hour'
    """,  # noqa: S608 - fixed fragments
    "s",
)

# A day merged from its (at most 24) 1-hour pieces.
REFRESH_1D = _refresh_pieces(
    "capture_rollup_1d",
    pieces.of_pieces("st.comfort_low", "st.comfort_high"),
    f"""
            SELECT k.bucket, h.*, date_part('epoch', LEAD(h.first_ts) OVER (
                       PARTITION BY h.room_id, h.sensor_id, k.bucket ORDER BY h.start)
                   - h.last_ts) AS seg
            FROM ({_PIECE_KEYS.format(stride="1 day")}) AS k
            JOIN capture_rollup_1h h
              ON h.room_id = k.room_id AND h.sensor_id = k.sensor_id
             AND h.start >= k.bucket AND h.start < k.bucket + interval '1 day'
    """,  # noqa: S608 - fixed fragments
    "p",
)


# Captures of `source` (as c) with the start of their piece of {stride} and `held`, the seconds
# to the next capture in the same piece: the input of pieces.OF_CAPTURES, one piece per start.
def bucketed(source: str, stride: str) -> str:
    return f"""
        SELECT c.room_id, c.sensor_id, c.ts, c.value, date_part('epoch', c.ts) AS at,
               roomtemp_bucket_start(c.ts, interval '{stride}') AS start,
               date_part('epoch', LEAD(c.ts) OVER (
                   PARTITION BY c.room_id, c.sensor_id,
                                roomtemp_bucket_start(c.ts, interval '{stride}')
                   ORDER BY c.ts) - c.ts) AS held
        FROM {source} c"""  # noqa: S608 - fixed fragments


# New captures merged into their buckets without reading the raw captures again: 15-minute sums,
# counts and extremes take any new capture; a 1-hour or 1-day piece takes the piece of its new
# captures only when they all come after its last capture (pieces.appended). The buckets where
# they do not (late data) come back, (stride, room, sensor, piece start), for a recompute.
_PIECES_OF_NEW = """
    {name}_new AS (
        SELECT s.start, s.room_id, s.sensor_id,
               {of_captures}
        FROM ({captures}) AS s
        JOIN st ON st.id = s.sensor_id
        WHERE {live}
        GROUP BY s.room_id, s.sensor_id, s.start
    ),
    {name} AS (
        INSERT INTO {table} AS r (start, room_id, sensor_id, {columns})
        SELECT start, room_id, sensor_id, {columns} FROM {name}_new
        ORDER BY room_id, sensor_id, start
        ON CONFLICT (room_id, sensor_id, start) DO UPDATE
        SET {appended}
        WHERE r.last_ts < EXCLUDED.first_ts
        RETURNING r.room_id, r.sensor_id, r.start
    )"""
_LATE = """
    SELECT '{stride}', k.room_id, k.sensor_id, k.start FROM {name}_new k
    WHERE NOT EXISTS (SELECT 1 FROM {name} d WHERE d.room_id = k.room_id
                      AND d.sensor_id = k.sensor_id AND d.start = k.start)"""
# The bound of the conflicting row's sensor, looked up by key in a JSON object of the same
# bounds ({"sensor id": [low, high]}): a binary search per row. A scan of the arrays per row
# (a subquery over unnest) made a batch touching 1,000 sensors spend 0.3 s in this clause alone.
_BOUND = (
    "CAST(CAST(:bound_map AS jsonb) -> CAST(r.sensor_id AS text) ->> {index} AS double precision)"
)
_PIECE_TABLES = (("h", "capture_rollup_1h", "1 hour"), ("d", "capture_rollup_1d", "1 day"))
APPEND = text(
    f"""
    WITH {_BOUNDS},
    new AS ({arrays.CAPTURE_ROWS}),
    m AS (
        INSERT INTO capture_rollup_15m AS r (bucket, sum, min, max, count, room_id, sensor_id)
        SELECT roomtemp_bucket(ts, interval '15 minutes') AS bucket,
               sum(value), min(value), max(value), count(*), room_id, sensor_id
        FROM new
        WHERE ts > {RAW_FROM}
        GROUP BY room_id, sensor_id, bucket
        ORDER BY room_id, sensor_id, bucket
        ON CONFLICT (room_id, sensor_id, bucket) DO UPDATE
        SET sum = r.sum + EXCLUDED.sum, min = LEAST(r.min, EXCLUDED.min),
            max = GREATEST(r.max, EXCLUDED.max), count = r.count + EXCLUDED.count
    ),
    {
        ",".join(
            _PIECES_OF_NEW.format(
                name=name,
                table=table,
                captures=bucketed("new", stride),
                live=LIVE_PIECE.format(b="s.start"),
                columns=pieces.column_list(),
                of_captures=pieces.of_captures("st.comfort_low", "st.comfort_high"),
                appended=pieces.appended(
                    "r",
                    "EXCLUDED",
                    _BOUND.format(index=0),
                    _BOUND.format(index=1),
                ),
            )
            for name, table, stride in _PIECE_TABLES
        )
    }
    {
        " UNION ALL ".join(
            _LATE.format(name=name, stride=stride) for name, _, stride in _PIECE_TABLES
        )
    }
    """  # noqa: S608 - fixed fragments; values are bound
)

# Buckets of these keys that hold no capture any more (after captures were deleted); {holds} is
# the bucket's span for captures c and buckets r. The captures are matched to the bucket row r
# (not to the keys k): a join of two distributed tables on room_id, co-located on Citus.
_FORGET = """
    DELETE FROM {table} AS r
    USING ({keys}) AS k
    WHERE r.room_id = k.room_id AND r.sensor_id = k.sensor_id AND r.{time} = k.bucket
      AND {live}
      AND NOT EXISTS (
          SELECT 1 FROM capture c
          WHERE c.room_id = r.room_id AND c.sensor_id = r.sensor_id AND {holds}
      )
"""
_ENDS = "c.ts > r.bucket - interval '{stride}' AND c.ts <= r.bucket"
_STARTS = "c.ts >= r.start AND c.ts < r.start + interval '{stride}'"
FORGET_15M = text(
    _FORGET.format(
        table="capture_rollup_15m",
        time="bucket",
        keys=_KEYS.format(stride="15 minutes"),
        holds=_ENDS.format(stride="15 minutes"),
        live=_LIVE_15M.format(b="r.bucket"),
    )
)
FORGET_PIECES = tuple(
    text(
        _FORGET.format(
            table=table,
            time="start",
            keys=_PIECE_KEYS.format(stride=stride),
            holds=_STARTS.format(stride=stride),
            live=LIVE_PIECE.format(b="r.start"),
        )
    )
    for table, stride in (("capture_rollup_1h", "1 hour"), ("capture_rollup_1d", "1 day"))
)


def _key_params(
    room_ids: Sequence[int], sensor_ids: Sequence[int], ts: Sequence[datetime]
) -> dict[str, str]:
    return {
        "room_ids": arrays.int_literal(room_ids),
        "sensor_ids": arrays.int_literal(sensor_ids),
        "ts": arrays.micros_literal(ts),
    }


_QUARTER_SPAN = timedelta(minutes=15) - timedelta(microseconds=1)


def _spanned_params(
    room_ids: Sequence[int], sensor_ids: Sequence[int], ts: Sequence[datetime]
) -> tuple[dict[str, str], dict[str, str]]:
    """Key parameters for the 15-minute buckets and for the pieces of these keys.

    A key's ts is a capture time or a 15-minute bucket end standing for its bucket (staged
    ingest and sensor deletes name those): (end - 15m, end] can reach into the piece before the
    one holding `end` (a bucket ending at 12:00 holds 11:59 and 12:00), so the pieces are also
    named by ts - 15m + 1 us. For a capture time that may name a piece that did not change;
    recomputing it from the raw captures leaves it as it is.
    """
    spans = [t - _QUARTER_SPAN for t in ts]
    return (
        _key_params(room_ids, sensor_ids, ts),
        _key_params([*room_ids, *room_ids], [*sensor_ids, *sensor_ids], [*ts, *spans]),
    )


async def refresh_buckets(
    conn: AsyncConnection,
    room_ids: Sequence[int],
    sensor_ids: Sequence[int],
    ts: Sequence[datetime],
) -> None:
    """Recompute the 15-minute, 1-hour and 1-day buckets holding these keys (capture times or
    15-minute bucket ends, see _spanned_params)."""
    quarters, spanned = _spanned_params(room_ids, sensor_ids, ts)
    bounds = await select_bounds(conn, sensor_ids)
    await conn.execute(REFRESH_15M, quarters)
    await conn.execute(REFRESH_1H, {**spanned, **bounds})
    await conn.execute(REFRESH_1D, {**spanned, **bounds})


async def append_captures(
    conn: AsyncConnection,
    room_ids: Sequence[int],
    sensor_ids: Sequence[int],
    ts: Sequence[datetime],
    values: Sequence[float],
) -> tuple[list[tuple[int, int, datetime]], list[tuple[int, int, datetime]]]:
    """Merge new captures (keys not stored before) into the rollups; the (room, sensor,
    piece start) of the 1-hour and of the 1-day pieces that hold later captures already."""
    rows = await driver.fetch_all(
        conn,
        APPEND,
        {
            **_key_params(room_ids, sensor_ids, ts),
            "vals": arrays.float_literal(values),
            **await select_bounds(conn, sensor_ids),
        },
        name="append rollups",
    )
    late: dict[str, list[tuple[int, int, datetime]]] = {"1 hour": [], "1 day": []}
    for stride, room_id, sensor_id, bucket in rows:
        late[stride].append((room_id, sensor_id, bucket))
    return late["1 hour"], late["1 day"]


async def refresh_pieces(
    conn: AsyncConnection,
    hours: Sequence[tuple[int, int, datetime]],
    days: Sequence[tuple[int, int, datetime]],
) -> None:
    """Recompute these 1-hour pieces (room, sensor, any instant of the piece, e.g. its start)
    from the raw captures, then these 1-day ones from theirs."""
    for stmt, keys in ((REFRESH_1H, hours), (REFRESH_1D, days)):
        if keys:
            sensor_ids = [k[1] for k in keys]
            await conn.execute(
                stmt,
                {
                    **_key_params([k[0] for k in keys], sensor_ids, [k[2] for k in keys]),
                    **await select_bounds(conn, sensor_ids),
                },
            )


async def forget_empty_buckets(
    conn: AsyncConnection,
    room_ids: Sequence[int],
    sensor_ids: Sequence[int],
    ts: Sequence[datetime],
) -> int:
    """Delete the buckets of these keys (capture times or 15-minute bucket ends) that no longer
    hold any capture; how many."""
    quarters, spanned = _spanned_params(room_ids, sensor_ids, ts)
    deleted = (await conn.execute(FORGET_15M, quarters)).rowcount
    for stmt in FORGET_PIECES:
        deleted += (await conn.execute(stmt, spanned)).rowcount
    return deleted


_FORGET_ROOMS = tuple(
    text(f"DELETE FROM {table} WHERE room_id = ANY(CAST(:ids AS integer[]))")  # noqa: S608
    for table in ("capture_rollup_15m", "capture_rollup_1h", "capture_rollup_1d")
)


async def forget_rooms(conn: AsyncConnection, room_ids: Sequence[int]) -> int:
    """Delete every bucket of these rooms (all their captures are gone); how many."""
    deleted = 0
    for stmt in _FORGET_ROOMS:
        deleted += (await conn.execute(stmt, {"ids": arrays.int_literal(room_ids)})).rowcount
    return deleted


_HORIZONS = text("SELECT level, dropped_before FROM retention_horizon")


async def select_horizons(conn: AsyncConnection) -> dict[str, datetime]:
    """Per level ('raw', '15m', '1h', '1d'), the instant before which retention dropped it."""
    # Read before every window and series: on the driver (db/driver.py says why).
    rows = await driver.fetch_all(conn, _HORIZONS, {}, name="select horizons")
    return {r[0]: r[1] for r in rows}
