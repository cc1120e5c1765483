"""SQL for period reports of a building, per room and sensor, for every period between `edges`
(one period [from, to), or the local days, weeks or months of group_by): ONE statement however
many periods, from the raw captures or from rollup pieces (1-day and 1-hour rollups, raw
captures only in the hours that hold an edge off the hour or a move of the sensor).

One text for plain PostgreSQL and Citus: on Citus the statement is pushed down to the shards
(room_sensor, capture and the rollups distributed by room_id, co-located; issue 20); the
comments below say which forms that needs."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import pieces


@dataclass(frozen=True)
class RoomPeriodRow:
    """Aggregates of one sensor's captures in one room over one period [start, end) in
    canonical units; times as Unix seconds. A room without sensors of the type has one row per
    period with sensor_id None.

    `held_*` weigh each capture by how long it held (until the sensor's next capture in the room,
    its next move, or the period end). The stretch before the first capture is not included:
    `carried` (the sensor's last value in the room before the period, if any) holds over
    `carry_seconds` (cut at a move), and the service adds it. `lead_seconds`: from the period
    start to the sensor's first capture in it (or the end), a gap candidate. `period`: 1-based,
    [edges[period - 1], edges[period]).
    """

    room: str
    sensor_id: int | None
    count: int
    mean: float | None
    min: float | None
    min_at: float | None
    max: float | None
    max_at: float | None
    held_value_seconds: float | None
    held_seconds: float | None
    held_below: float | None
    held_above: float | None
    gap_seconds: float | None
    gap_start: float | None
    lead_seconds: float
    carried: float | None
    carry_seconds: float
    period: int = 1


# Each room's sensors of the type (from the assignment history: every sensor whose captures can
# be attributed to the room), the rooms resolved to ids first (select_room_periods). From
# room_sensor, not from sensor_assignment: on Citus it is distributed by room_id and co-located
# with capture and the rollups, so every join and lateral below is correlated with a distributed
# relation on room_id and the whole statement is pushed down to the shards (the same pairs as
# the DISTINCT over the assignments). Every CTE used more than once is NOT MATERIALIZED: Citus
# inlines only those (and singly used ones); a materialized one is an intermediate result there,
# and a lateral correlated with it is refused. They are small (pairs, move hours), so inlining
# them costs plain PostgreSQL next to nothing.
_HEAD = """
    rs AS NOT MATERIALIZED (
        SELECT rs.room_id, rs.sensor_id FROM room_sensor rs
        JOIN sensor se ON se.id = rs.sensor_id AND se.sensor_type_id = :sensor_type_id
        WHERE rs.room_id = ANY(CAST(:room_ids AS integer[]))
    )"""

# The period edges, a constant of the statement (never a column: a 3 kB array carried through
# the sorts of a year of days made them spill to disk).
_E = "(CAST(:edges AS timestamptz[]))"

# One capture as a piece (db/pieces.py COLUMNS): nothing held inside it.
_CAPTURE_PIECE = """
    1 AS count, c.value AS sum, c.value AS min, c.value AS max, c.ts AS min_ts, c.ts AS max_ts,
    c.ts AS first_ts, c.value AS first_value, c.ts AS last_ts, c.value AS last_value,
    CAST(0 AS double precision) AS value_seconds, CAST(0 AS double precision) AS below_seconds,
    CAST(0 AS double precision) AS above_seconds, CAST(0 AS double precision) AS gap_seconds,
    c.ts AS gap_start"""

# The pieces `p(room_id, sensor_id, <COLUMNS>)` of the raw path: every capture of [first, last).
_RAW_PIECES = f"""
    p AS (
        SELECT rs.room_id, rs.sensor_id, {_CAPTURE_PIECE}
        FROM rs JOIN capture c ON c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id
        WHERE c.ts >= :first AND c.ts < :last
    )"""  # noqa: S608 - fixed fragments

# The pieces of the rollup path (as average/bucket_queries.py reads them for buckets): raw
# captures, one piece each, in the hours holding an edge off the hour (:raw_hours) and in `mh`,
# the other hours in which the sensor moved (a rollup piece is not cut at moves: its internal
# segments would span the time the sensor was elsewhere); 1-day pieces for the UTC days of :days
# (no edge inside) without such an hour; 1-hour pieces for every other hour of [first, last):
# the runs of hours outside :days (:hours_from/:hours_to, index ranges: the hour pieces of a day
# read whole are never read) and the hours of the days a move kept from their 1-day piece. No
# edge hour is inside a run or a day of :days, so only `mh` is left out of those. No piece
# crosses an edge, and the pieces of one (room, sensor) do not overlap.
# Every hour, run of hours or moved day is one index range of its (room, sensor), read by a
# LATERAL subquery over the fact table alone, correlated with the range and the pair. Its
# DISTINCT ON (never removing a row: with the pair fixed it is the primary key, in index order,
# so no sort) keeps the subquery from being flattened, so each is a parameterized index range on
# plain PostgreSQL; flattened (or inside
# a lateral correlated with the pair only), it was planned as a scan of every capture of the
# pair for every hour: 60 s instead of 1.8 s for 20 rooms x a year of days in Asia/Kathmandu
# (every edge off the hour), measured. OFFSET 0 did this before Citus, but Citus pushes a
# lateral correlated with unnest() down only when it needs no merge step: no LIMIT or OFFSET,
# and a DISTINCT (ON) only if it holds room_id.
_ROLLUP_PIECES = f"""
    mh AS NOT MATERIALIZED (
        SELECT DISTINCT rs.room_id, rs.sensor_id,
               roomtemp_bucket_start(a.valid_from, CAST('1 hour' AS interval)) AS h
        FROM rs JOIN sensor_assignment a ON a.sensor_id = rs.sensor_id
        WHERE a.valid_from >= :first AND a.valid_from < :last AND a.valid_from >= :raw_from
          AND NOT roomtemp_bucket_start(a.valid_from, CAST('1 hour' AS interval))
                  = ANY(CAST(:raw_hours AS timestamptz[]))
    ),
    moved_days AS NOT MATERIALIZED (  -- days of :days in which the sensor moved: read by the hour
        SELECT DISTINCT mh.room_id, mh.sensor_id, d.d
        FROM mh JOIN unnest(CAST(:days AS timestamptz[])) AS d(d)
          ON mh.h >= d.d AND mh.h < d.d + CAST('1 day' AS interval)
    ),
    raw_hours AS NOT MATERIALIZED (  -- every hour read raw
        SELECT rs.room_id, rs.sensor_id, h.h
        FROM rs CROSS JOIN unnest(CAST(:raw_hours AS timestamptz[])) AS h(h)
        UNION ALL
        SELECT room_id, sensor_id, h FROM mh
    ),
    p AS (
        SELECT r.room_id, r.sensor_id, {_CAPTURE_PIECE}
        FROM raw_hours r CROSS JOIN LATERAL (
            SELECT DISTINCT ON (c.room_id, c.ts) c.ts, c.value FROM capture c
            WHERE c.room_id = r.room_id AND c.sensor_id = r.sensor_id
              AND c.ts >= GREATEST(r.h, CAST(:first AS timestamptz))
              AND c.ts < LEAST(r.h + CAST('1 hour' AS interval), CAST(:last AS timestamptz))
        ) AS c
        UNION ALL
        SELECT x.room_id, x.sensor_id, {pieces.column_list("x.")}
        FROM rs CROSS JOIN unnest(CAST(:days AS timestamptz[])) AS d(d)
        JOIN capture_rollup_1d x
          ON x.room_id = rs.room_id AND x.sensor_id = rs.sensor_id AND x.start = d.d
        WHERE NOT EXISTS (
            SELECT 1 FROM moved_days m
            WHERE m.room_id = rs.room_id AND m.sensor_id = rs.sensor_id AND m.d = d.d)
        UNION ALL
        SELECT x.room_id, x.sensor_id, {pieces.column_list("x.")}
        FROM (
            SELECT rs.room_id, rs.sensor_id, r.a, r.z
            FROM rs CROSS JOIN unnest(CAST(:hours_from AS timestamptz[]),
                                      CAST(:hours_to AS timestamptz[])) AS r(a, z)
            UNION ALL
            SELECT room_id, sensor_id, d, d + CAST('1 day' AS interval) FROM moved_days
        ) AS r
        CROSS JOIN LATERAL (
            SELECT DISTINCT ON (x.room_id, x.start) x.* FROM capture_rollup_1h x
            WHERE x.room_id = r.room_id AND x.sensor_id = r.sensor_id
              AND x.start >= r.a AND x.start < r.z
        ) AS x
        WHERE NOT EXISTS (
            SELECT 1 FROM mh WHERE mh.room_id = r.room_id
              AND mh.sensor_id = r.sensor_id AND mh.h = x.start)
    )"""  # noqa: S608 - fixed fragments; values are bound

_MOVE_PIECE = ", ".join(
    "m.valid_from" if c in ("first_ts", "last_ts") else "NULL" for c in pieces.COLUMNS
)

# The columns of agg the grid carries. Every (pair, period) is agg's row merged with an empty
# one by max() (a GROUP BY over a union), not a LEFT JOIN of pairs x periods with agg: agg's row
# count is underestimated, and PostgreSQL merge-joined on the pair only, filtering the period
# (1.3 M rows rescanned for 20 rooms x a year of days: +40 %); the old statement's MATERIALIZED
# pairs x periods would be an intermediate result on Citus, refused as a left join's outer side.
_GRID = (
    "count", "sum", "min", "max", "min_ts", "max_ts", "first_ts", "value_seconds", "held",
    "below_seconds", "above_seconds", "gap_seconds", "gap_start", "last_ts", "last_value",
)  # fmt: skip
_GRID_COLUMNS = ", ".join(f"a.{c}" for c in _GRID)
_GRID_NULLS = ", ".join("NULL" for _ in _GRID)
_GRID_MAX = ", ".join(f"max(c.{c}) AS {c}" for c in _GRID)

# Per (room, sensor, period): the pieces merged (db/pieces.py OF_PIECES). `seg` of a piece runs
# to the sensor's next event in the room within the period: its next piece, its next move (a
# row without a value: a capture at the instant of a move is the new room's, so the move is
# ordered first), or the period end; `held` is the pieces' spans plus their segs. Then every
# room x sensor x period (empty periods too; rooms without sensors are added by
# select_room_periods), with the carry: the sensor's last value in the room before the period
# (from the latest earlier period with a capture, else its last capture or piece before `first`),
# held from the period start until its first capture there, the end, or its next move after
# that value. Arrays compare element by element: max(ARRAY[epoch, value]) is the latest value
# (periods without a capture are filtered out: an array of NULLs sorts last).
# For Citus: `prev` reads db/pieces.py LAST_BEFORE_FIRST's three sources as three laterals (a
# union inside one lateral is refused: "complex joins"), and the move cut is a CROSS JOIN
# LATERAL aggregate (always one row) over the reference table: an outer lateral join of a
# reference table with a distributed subquery is refused.
# The carry-in's sources beside the raw captures: the newest piece of a rollup level that ends
# at or before :first, kept where raw captures are gone (before :raw_from); one per level.
_PIECE_BEFORE = """\
            SELECT rs.room_id, rs.sensor_id, x.last_ts, x.last_value FROM rs CROSS JOIN LATERAL (
                SELECT x.last_ts, x.last_value FROM {table} x
                WHERE x.room_id = rs.room_id AND x.sensor_id = rs.sensor_id
                  AND x.start < :raw_from
                  AND x.start <= CAST(:first AS timestamptz) - CAST('{stride}' AS interval)
                ORDER BY x.start DESC LIMIT 1
            ) AS x"""

_BODY = f"""
    ev AS (
        SELECT p.room_id, p.sensor_id, 1 AS o, {pieces.column_list("p.")} FROM p
        UNION ALL
        SELECT rs.room_id, rs.sensor_id, 0, {_MOVE_PIECE}
        FROM rs JOIN sensor_assignment m ON m.sensor_id = rs.sensor_id
        WHERE m.valid_from > :first AND m.valid_from < :last
    ),
    ordered AS (
        SELECT ev.*, b.i, date_part('epoch', COALESCE(LEAD(ev.first_ts) OVER (
                   PARTITION BY ev.room_id, ev.sensor_id, b.i ORDER BY ev.first_ts, ev.o),
                   {_E}[b.i + 1]) - ev.last_ts) AS seg
        FROM ev CROSS JOIN LATERAL (SELECT width_bucket(ev.first_ts, {_E}) AS i) AS b
    ),
    agg AS (
        SELECT p.room_id, p.sensor_id, p.i, {pieces.of_pieces(":low", ":high")},
               sum(date_part('epoch', p.last_ts - p.first_ts) + p.seg) AS held
        FROM ordered p WHERE p.o = 1 GROUP BY p.room_id, p.sensor_id, p.i
    ),
    prev AS (
        SELECT u.room_id, u.sensor_id, max(ARRAY[date_part('epoch', u.ts), u.value]) AS before
        FROM (
            SELECT rs.room_id, rs.sensor_id, c.ts, c.value FROM rs CROSS JOIN LATERAL (
                SELECT c.ts, c.value FROM capture c
                WHERE c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id AND c.ts < :first
                ORDER BY c.ts DESC LIMIT 1
            ) AS c
            UNION ALL
{_PIECE_BEFORE.format(table="capture_rollup_1h", stride="1 hour")}
            UNION ALL
{_PIECE_BEFORE.format(table="capture_rollup_1d", stride="1 day")}
        ) AS u
        GROUP BY u.room_id, u.sensor_id
    ),
    cells AS (  -- every pair x period: agg's rows, and empty ones merged into the rest by max
        SELECT c.room_id, c.sensor_id, c.i, {_GRID_MAX}
        FROM (
            SELECT a.room_id, a.sensor_id, a.i, {_GRID_COLUMNS} FROM agg a
            UNION ALL
            SELECT rs.room_id, rs.sensor_id, g.i, {_GRID_NULLS}
            FROM rs CROSS JOIN generate_series(1, cardinality({_E}) - 1) AS g(i)
        ) AS c
        GROUP BY c.room_id, c.sensor_id, c.i
    ),
    grid AS (
        SELECT g.*,
               COALESCE(max(ARRAY[date_part('epoch', g.last_ts), g.last_value])
                            FILTER (WHERE g.last_ts IS NOT NULL) OVER (
                   PARTITION BY g.room_id, g.sensor_id ORDER BY g.i
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), prev.before) AS before
        FROM cells g
        LEFT JOIN prev ON prev.room_id = g.room_id AND prev.sensor_id = g.sensor_id
    )
    SELECT c.room_id, c.sensor_id, COALESCE(c.count, 0), c.sum / c.count,
           c.min, date_part('epoch', c.min_ts), c.max, date_part('epoch', c.max_ts),
           c.value_seconds, c.held, c.below_seconds, c.above_seconds,
           c.gap_seconds, date_part('epoch', c.gap_start),
           date_part('epoch', COALESCE(c.first_ts, {_E}[c.i + 1]) - {_E}[c.i]),
           c.before[2],
           GREATEST(0, date_part('epoch', LEAST(
               COALESCE(c.first_ts, {_E}[c.i + 1]),
               COALESCE(moved.t, CAST('infinity' AS timestamptz))) - {_E}[c.i])),
           c.i, {{valid}}
    FROM grid c
    CROSS JOIN LATERAL (
        SELECT min(m.valid_from) AS t FROM sensor_assignment m
        WHERE c.before IS NOT NULL AND m.sensor_id = c.sensor_id
          AND m.valid_from > to_timestamp(c.before[1])
    ) AS moved
"""  # noqa: S608 - fixed fragments; values are bound

# Whether the rollups counted comfort seconds for (:low, :high), read in the same snapshot as
# the rollups (set_comfort changes bounds and rollups in one transaction; reads may be
# autocommit).
_VALID = """EXISTS (
               SELECT 1 FROM sensor_type
               WHERE id = :sensor_type_id
                 AND (NOT :with_shares OR (comfort_low = :low AND comfort_high = :high)))"""


def _statement(piece_source: str, valid: str) -> TextClause:
    return text(f"WITH {_HEAD},{piece_source},{_BODY.replace('{valid}', valid)}")


# The building's rooms in key order: the fact statement filters room_sensor by their ids
# directly (on Citus the shards it reads are pruned by them).
_ROOMS = text("SELECT id, key FROM room WHERE building_id = :building_id ORDER BY key")

_REPORT = _statement(_RAW_PIECES, "true")
_ROLLUP_REPORT = _statement(_ROLLUP_PIECES, _VALID)


@dataclass(frozen=True)
class PeriodQuery:
    """What the report statements read: a building's rooms, one sensor type, the periods
    between `edges` (UTC, ascending, at least two), comfort bounds in the canonical unit."""

    building_id: int
    sensor_type_id: int
    edges: list[datetime]
    low: float
    high: float


async def select_room_periods(
    conn: AsyncConnection,
    q: PeriodQuery,
    *,
    rollups: bool = False,
    with_shares: bool = False,
    raw_from: datetime | None = None,
) -> list[RoomPeriodRow] | None:
    """Every (period, room, sensor) in that order; from the raw captures, or (`rollups`) from the
    rollup pieces with raw captures only where they cannot be used. Both give the same answer;
    the rollup path answers None when the rollups' comfort seconds are not for (low, high) and
    `with_shares` (the caller then reads raw captures). `raw_from`: the raw horizon (the carry
    comes from the pieces before it, and moves before it cut no piece)."""
    raw_hours, days = pieces.rollup_layout(q.edges) if rollups else ([], [])
    hours_from, hours_to = pieces.hour_runs(q.edges, raw_hours, days) if rollups else ([], [])
    rooms = (await conn.execute(_ROOMS, {"building_id": q.building_id})).all()
    if not rooms:
        return []
    rows = await conn.execute(
        _ROLLUP_REPORT if rollups else _REPORT,
        {
            "room_ids": [r.id for r in rooms],
            "sensor_type_id": q.sensor_type_id,
            "edges": q.edges,
            "first": q.edges[0],
            "last": q.edges[-1],
            "low": q.low,
            "high": q.high,
            "raw_hours": raw_hours,
            "days": days,
            "hours_from": hours_from,
            "hours_to": hours_to,
            "with_shares": with_shares,
            "raw_from": raw_from if raw_from is not None else pieces.NO_HORIZON,
        },
    )
    # Rows per (period, room's place in key order: the database's collation), then in the order
    # of the old single statement: period, room key, sensor id.
    place = {r.id: (n, r.key) for n, r in enumerate(rooms)}
    found: dict[tuple[int, int], list[RoomPeriodRow]] = {}
    for r in rows:
        if not r[-1]:
            return None
        n, key = place[r[0]]
        found.setdefault((r[-2], n), []).append(RoomPeriodRow(key, *r[1:-1]))
    out = []
    for i, (a, z) in enumerate(itertools.pairwise(q.edges), start=1):
        for n, room in enumerate(rooms):
            sensors = found.get((i, n))
            if sensors:
                out.extend(sorted(sensors, key=lambda row: row.sensor_id or 0))
            else:  # a room without sensors of the type: one row without a sensor
                span = (z - a).total_seconds()
                out.append(_no_sensor(room.key, span, i))
    return out


def _no_sensor(room: str, span: float, period: int) -> RoomPeriodRow:
    return RoomPeriodRow(
        room, None, 0, None, None, None, None, None, None, None, None, None, None, None,
        lead_seconds=span, carried=None, carry_seconds=span, period=period,
    )  # fmt: skip
