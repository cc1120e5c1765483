"""SQL for bucket-mode series: every capture of [edges[1], edges[n+1]) in exactly one bucket
[edges[i], edges[i+1]), for a room, one sensor, or every room of a building.

ONE statement family, parameterised by the bucket edges (a timestamptz[] computed in Python from
the time zone: SQL never needs tzdata). Per (group, sensor, bucket): count, sum, min and max of
its captures, and the time integral of the value it held. A group is a room (room and building
series) or the one sensor in every room it has been in (sensor series).

Holding, as the rolling windows (average/queries.py) and period reports (report/queries.py) do:
each capture holds its value until the sensor's next capture in the group, or `last`, or (rooms
only) the sensor's next move, whichever comes first; its last capture before `first` carries
into the first bucket. A held stretch crosses bucket edges, so a value carries into the next
bucket until that sensor's first capture there. A move is a row without a value ending the
stretch before it; a capture at the instant of a move belongs to the new room (ordered after it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.average.queries import SENSOR_PAIRS
from roomtemp.db import driver
from roomtemp.db.pieces import LAST_BEFORE_FIRST, NO_HORIZON, hour_runs, rollup_layout


# Not frozen: a 500-room series makes 12,500 rows, and a frozen dataclass's __init__ (an
# object.__setattr__ per field) took 1.4 µs against 0.1 µs with slots (timeit, 8 fields).
@dataclass(slots=True)
class BucketRow:
    """One bucket of one group (room key, or None for a sensor series), canonical values."""

    group: str | None
    index: int  # 1-based: [edges[index - 1], edges[index]) in Python's 0-based list
    count: int
    mean: float | None
    min: float | None
    max: float | None
    time_weighted_mean: float | None
    sensors: int


@dataclass(frozen=True)
class _Keys:
    """Which (room, sensor) pairs a statement reads and how they group.

    `pairs`: a FROM fragment over `room_sensor rs` (joined with reference tables that pick the
    pairs), `g`: the group of a pair as an expression over it, `groups`: a CTE
    `groups(g, key)` of the groups answered (every one gets every bucket). Every read of
    capture or a rollup table is correlated with `rs` on room_id, never with a CTE: on Citus
    room_sensor is distributed and co-located with them, so those reads are pushed down to the
    shards (a lateral LIMIT, OFFSET or aggregate over a CTE of reference tables is refused
    there); the CTEs built from them are then combined on the coordinator."""

    pairs: str
    g: str
    groups: str


# The pairs are a derived table over room_sensor alone, the reference tables only in ARRAY()
# subqueries (one-time InitPlans on PostgreSQL): the statement reads the pairs six times, and
# joining sensor (and room) at each took the planner 9 ms against 2 ms (a 24-hour series).
_TYPE = (
    "rs.sensor_id = ANY(ARRAY(SELECT id FROM sensor"
    " WHERE sensor_type_id = CAST(:sensor_type_id AS smallint)))"
)

_ROOM = _Keys(
    pairs=f"""(SELECT rs.room_id, rs.sensor_id FROM room_sensor rs
          WHERE rs.room_id = CAST(:room_id AS integer) AND {_TYPE}) AS rs""",  # noqa: S608
    g="rs.room_id",
    groups="groups AS (SELECT CAST(:room_id AS integer) AS g, CAST(NULL AS text) AS key)",
)

_BUILDING = _Keys(
    pairs=f"""(SELECT rs.room_id, rs.sensor_id FROM room_sensor rs
          WHERE rs.room_id = ANY(ARRAY(SELECT id FROM room
                                       WHERE building_id = CAST(:building_id AS smallint)))
            AND {_TYPE}) AS rs""",  # noqa: S608
    g="rs.room_id",
    groups="groups AS (SELECT id AS g, key FROM room"
    " WHERE building_id = CAST(:building_id AS smallint))",
)

_SENSOR = _Keys(
    pairs=SENSOR_PAIRS, g="0", groups="groups AS (SELECT 0 AS g, CAST(NULL AS text) AS key)"
)


# `prev(g, sensor_id, ts, value)`: the carry, per (room, sensor) its last capture before
# `first` (one backward index step each); `cut(g, sensor_id, t0)`: moves that end a held
# stretch (none for a sensor's own series).
def _room_carry(k: _Keys) -> str:
    return f"""
    prev AS (
        SELECT {k.g} AS g, rs.sensor_id, p.ts, p.value FROM {k.pairs}
        CROSS JOIN LATERAL (
            {LAST_BEFORE_FIRST}
        ) AS p
    ),
    cut AS (  -- moves that can end a held stretch: after the carried capture, before `last`
        SELECT {k.g} AS g, rs.sensor_id,
               GREATEST(a.valid_from, CAST(:first AS timestamptz)) AS t0
        FROM {k.pairs}
        JOIN sensor_assignment a ON a.sensor_id = rs.sensor_id
        LEFT JOIN prev ON prev.g = {k.g} AND prev.sensor_id = rs.sensor_id
        WHERE a.valid_from < :last
          AND a.valid_from > COALESCE(prev.ts, CAST(:first AS timestamptz))
    )"""  # noqa: S608 - fixed fragments; values are bound


# A sensor's own series: its last capture anywhere before `first`; moves cut nothing.
def _sensor_carry(k: _Keys) -> str:
    return f"""
    prev AS (
        SELECT 0 AS g, CAST(:sensor_id AS integer) AS sensor_id, p.ts, p.value
        FROM {k.pairs} CROSS JOIN LATERAL (
            {LAST_BEFORE_FIRST}
        ) AS p
        ORDER BY p.ts DESC LIMIT 1
    ),
    cut AS (SELECT 0 AS g, 0 AS sensor_id, CAST(NULL AS timestamptz) AS t0 WHERE false)
"""  # noqa: S608 - fixed fragments; values are bound


# The pieces `p` of the raw path: each capture of [first, last) is a piece of its own.
def _raw_pieces(k: _Keys) -> str:
    return f"""
    p AS (
        SELECT {k.g} AS g, c.sensor_id, c.ts AS first_ts, c.ts AS last_ts,
               c.value AS last_value, 1 AS n, c.value AS s, c.value AS lo, c.value AS hi,
               CAST(0 AS double precision) AS vs, CAST(0 AS double precision) AS span
        FROM {k.pairs}
        JOIN capture c ON c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id
        WHERE c.ts >= CAST(:first AS timestamptz) AND c.ts < :last
    )"""  # noqa: S608 - fixed fragments; values are bound


# The pieces `p` of the rollup path (left-closed 1-hour and 1-day rollups, db/pieces.py): raw
# captures, one piece each, in `rawh` (the hours holding an edge off the hour, :raw_hours, and
# the hours in which the sensor moved: rollup pieces are not cut at moves); 1-day pieces for the
# UTC days of :days (no edge inside) without such an hour; 1-hour pieces for every other hour
# of [first, last): the runs of hours outside :days (:hours_from/:hours_to, db/pieces.py
# hour_runs, as index ranges: the hour pieces of a day read whole are never read) and the hours
# of the days a move kept from their 1-day piece. Pieces of one (group, sensor) do not overlap,
# so they order by first_ts. `rawh` and `moved_days` are CTEs: they are joined (anti-joins for
# "not in such an hour or day") beside `rs`, which the laterals are correlated with.
_ORIGIN = "CAST('2000-01-01 00:00:00+00' AS timestamptz)"
# Each lateral read of hours must stay one index range per hour or run of hours: flattened into
# a join, the planner may merge-join every capture of the range against the hours, rescanning
# them. OFFSET 0 would keep it a subquery, but Citus refuses OFFSET (and LIMIT, aggregates
# without GROUP BY) in a lateral that references a CTE or a function (`rawh`, unnest); a GROUP BY
# on the table's primary key does the same on both (a subquery with GROUP BY is never pulled up;
# each group is one row, and the key starts with room_id, the distribution column, which Citus
# requires of a grouped lateral). The rows come in key order from the index: a streaming Group.
_KEEP = "GROUP BY c.room_id, c.sensor_id, c.ts"
_KEEP_HOURS = "GROUP BY x.room_id, x.sensor_id, x.start"


def _rollup_pieces(k: _Keys) -> str:
    hour_pieces = """x.sensor_id, x.first_ts, x.last_ts, x.last_value,
               x.count, x.sum, x.min, x.max,
               x.value_seconds, date_part('epoch', x.last_ts - x.first_ts)"""
    not_raw = """LEFT JOIN rawh ON rawh.room_id = rs.room_id AND rawh.sensor_id = rs.sensor_id
         AND rawh.h = x.start
        WHERE rawh.h IS NULL"""
    return f"""
    rawh AS (
        SELECT rs.room_id, rs.sensor_id, h.h
        FROM {k.pairs} CROSS JOIN unnest(CAST(:raw_hours AS timestamptz[])) AS h(h)
        UNION
        SELECT rs.room_id, rs.sensor_id,
               date_bin(CAST('1 hour' AS interval), a.valid_from, {_ORIGIN})
        FROM {k.pairs} JOIN sensor_assignment a ON a.sensor_id = rs.sensor_id
        WHERE a.valid_from >= :first AND a.valid_from < :last AND a.valid_from >= :raw_from
    ),
    moved_days AS (  -- days of :days in which the sensor moved: read by the hour
        SELECT DISTINCT rawh.room_id, rawh.sensor_id, d.d
        FROM rawh JOIN unnest(CAST(:days AS timestamptz[])) AS d(d)
          ON rawh.h >= d.d AND rawh.h < d.d + CAST('1 day' AS interval)
    ),
    p AS (
        SELECT {k.g} AS g, c.sensor_id, c.ts AS first_ts, c.ts AS last_ts,
               c.value AS last_value, 1 AS n, c.value AS s, c.value AS lo, c.value AS hi,
               CAST(0 AS double precision) AS vs, CAST(0 AS double precision) AS span
        FROM {k.pairs}
        JOIN rawh ON rawh.room_id = rs.room_id AND rawh.sensor_id = rs.sensor_id
        CROSS JOIN LATERAL (
            SELECT c.sensor_id, c.ts, c.value FROM capture c
            WHERE c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id
              AND c.ts >= GREATEST(rawh.h, CAST(:first AS timestamptz))
              AND c.ts < LEAST(rawh.h + CAST('1 hour' AS interval), CAST(:last AS timestamptz))
            {_KEEP}
        ) AS c
        UNION ALL
        SELECT {k.g}, {hour_pieces}
        FROM {k.pairs} CROSS JOIN unnest(CAST(:days AS timestamptz[])) AS d(d)
        JOIN capture_rollup_1d x
          ON x.room_id = rs.room_id AND x.sensor_id = rs.sensor_id AND x.start = d.d
        LEFT JOIN moved_days m
          ON m.room_id = rs.room_id AND m.sensor_id = rs.sensor_id AND m.d = d.d
        WHERE m.d IS NULL
        UNION ALL
        SELECT {k.g}, {hour_pieces}
        FROM {k.pairs}
        CROSS JOIN unnest(CAST(:hours_from AS timestamptz[]),
                          CAST(:hours_to AS timestamptz[])) AS r(a, z)
        CROSS JOIN LATERAL (
            SELECT x.* FROM capture_rollup_1h x
            WHERE x.room_id = rs.room_id AND x.sensor_id = rs.sensor_id
              AND x.start >= r.a AND x.start < r.z
            {_KEEP_HOURS}  -- an index range per run of hours (never the hours of a whole day)
        ) AS x
        {not_raw}
        UNION ALL
        SELECT {k.g}, {hour_pieces}
        FROM {k.pairs}
        JOIN moved_days m ON m.room_id = rs.room_id AND m.sensor_id = rs.sensor_id
        CROSS JOIN LATERAL (
            SELECT x.* FROM capture_rollup_1h x
            WHERE x.room_id = rs.room_id AND x.sensor_id = rs.sensor_id
              AND x.start >= m.d AND x.start < m.d + CAST('1 day' AS interval)
            {_KEEP_HOURS}
        ) AS x
        {not_raw}
    )"""  # noqa: S608 - fixed fragments; values are bound


# Per piece (one pass): its captures' count/sum/min/max and its internal held time (between its
# own captures: `vs` value-seconds over `span` seconds), plus its TAIL: its last value held from
# its last capture until the sensor's next event (piece, move or the carry) or `last`; all in
# the bucket ia of the piece (width_bucket: i with edges[i] <= t < edges[i + 1]; a piece never
# crosses an edge). The rare tail that crosses edges (a sensor silent across buckets: its value
# carries until its next capture) adds its end in bucket iz and whole buckets in between.
_BODY = """
    ed AS (SELECT CAST(:edges AS timestamptz[]) AS e),
    ev AS (
        SELECT g, sensor_id, first_ts AS t0, last_ts AS t1, 2 AS o, last_value AS value,
               n, s, lo, hi, vs, span
        FROM p
        UNION ALL
        SELECT g, sensor_id, CAST(:first AS timestamptz), CAST(:first AS timestamptz), 0, value,
               0, NULL, NULL, NULL, 0, 0
        FROM prev
        UNION ALL
        SELECT g, sensor_id, t0, t0, 1, CAST(NULL AS double precision), 0, NULL, NULL, NULL, 0, 0
        FROM cut
    ),
    seg AS (
        SELECT ev.*, COALESCE(LEAD(t0) OVER (PARTITION BY g, sensor_id ORDER BY t0, o),
                              CAST(:last AS timestamptz)) AS z
        FROM ev
    ),
    sb AS (
        SELECT seg.*, b.ia, width_bucket(seg.z, ed.e) AS iz,
               CASE WHEN seg.value IS NOT NULL AND seg.z > seg.t1
                    THEN date_part('epoch', LEAST(seg.z, ed.e[b.ia + 1]) - seg.t1) ELSE 0 END AS x
        FROM seg CROSS JOIN ed CROSS JOIN LATERAL (SELECT width_bucket(seg.t0, ed.e) AS ia) AS b
    ),
    parts AS (
        SELECT g, sensor_id, ia AS i, n, s, lo, hi,
               vs + COALESCE(value * x, 0) AS vx, span + x AS secs
        FROM sb
        UNION ALL
        SELECT g, sensor_id, iz, 0, NULL, NULL, NULL,
               value * date_part('epoch', z - e[iz]), date_part('epoch', z - e[iz])
        FROM sb CROSS JOIN ed WHERE value IS NOT NULL AND iz > ia AND z > e[iz]
        UNION ALL
        SELECT g, sensor_id, j, 0, NULL, NULL, NULL,
               value * date_part('epoch', e[j + 1] - e[j]), date_part('epoch', e[j + 1] - e[j])
        FROM sb CROSS JOIN ed CROSS JOIN LATERAL generate_series(ia + 1, iz - 1) AS j
        WHERE value IS NOT NULL AND iz > ia + 1
    ),
    per AS (
        SELECT g, sensor_id, i, sum(n) AS n, sum(s) AS s, min(lo) AS lo, max(hi) AS hi,
               sum(vx) AS vs, sum(secs) AS secs
        FROM parts GROUP BY g, sensor_id, i
    ),
    agg AS (  -- pooled over the sensors with a capture in the bucket
        SELECT g, i, CAST(sum(n) AS bigint) AS n, sum(s) AS s, min(lo) AS lo, max(hi) AS hi,
               avg(vs / NULLIF(secs, 0)) AS twm, count(*) AS sensors
        FROM per WHERE n > 0 GROUP BY g, i
    )
    SELECT groups.key, b.i, CAST(COALESCE(agg.n, 0) AS integer), agg.s / agg.n, agg.lo, agg.hi,
           agg.twm, CAST(COALESCE(agg.sensors, 0) AS integer)
    FROM groups
    CROSS JOIN ed CROSS JOIN LATERAL generate_series(1, cardinality(ed.e) - 1) AS b(i)
    LEFT JOIN agg ON agg.g = groups.g AND agg.i = b.i
    ORDER BY groups.key, b.i
"""


def _statement(k: _Keys, carry: str, pieces: str) -> TextClause:
    return text(f"WITH {k.groups},{carry},{pieces},{_BODY}")


@dataclass(frozen=True)
class Statements:
    raw: TextClause
    rollup: TextClause


ROOM_BUCKETS = Statements(
    _statement(_ROOM, _room_carry(_ROOM), _raw_pieces(_ROOM)),
    _statement(_ROOM, _room_carry(_ROOM), _rollup_pieces(_ROOM)),
)
SENSOR_BUCKETS = Statements(
    _statement(_SENSOR, _sensor_carry(_SENSOR), _raw_pieces(_SENSOR)),
    _statement(_SENSOR, _sensor_carry(_SENSOR), _rollup_pieces(_SENSOR)),
)
BUILDING_BUCKETS = Statements(
    _statement(_BUILDING, _room_carry(_BUILDING), _raw_pieces(_BUILDING)),
    _statement(_BUILDING, _room_carry(_BUILDING), _rollup_pieces(_BUILDING)),
)


@dataclass(frozen=True)
class BucketQuery:
    """What the bucket statements read: one of room_id / sensor_id / building_id, the sensor
    type, and the edges (UTC, ascending, at least two)."""

    sensor_type_id: int
    edges: list[datetime]
    room_id: int | None = None
    sensor_id: int | None = None
    building_id: int | None = None


def rollups_pay(edges: list[datetime]) -> bool:
    """Whether the rollup path is worth it: a range of a few hours or more whose edges are
    mostly on the hour (edges off the hour, as hourly buckets in +05:30 zones or 15-minute
    buckets, make every hour raw)."""
    hours = (edges[-1] - edges[0]) / timedelta(hours=1)
    raw_hours, _ = rollup_layout(edges)
    return hours >= 4 and len(raw_hours) * 4 < hours


async def select_buckets(
    conn: AsyncConnection,
    q: BucketQuery,
    *,
    rollups: bool = False,
    raw_from: datetime | None = None,
) -> list[BucketRow]:
    """Every bucket of every group, in order (group key, bucket); from the raw captures, or
    (`rollups`) from the 1-hour and 1-day pieces with raw captures only where they cannot be
    used. Both give the same answer. `raw_from`: the raw horizon (retention dropped the raw
    captures before it): the carry comes from the pieces there and moves before it cut no
    piece (rollups must be True when the range starts before it)."""
    if q.building_id is not None:
        statements = BUILDING_BUCKETS
    elif q.sensor_id is not None:
        statements = SENSOR_BUCKETS
    else:
        statements = ROOM_BUCKETS
    raw_hours, days = rollup_layout(q.edges) if rollups else ([], [])
    hours_from, hours_to = hour_runs(q.edges, raw_hours, days) if rollups else ([], [])
    rows = await driver.fetch_all_binary(
        conn,
        statements.rollup if rollups else statements.raw,
        {
            "raw_hours": raw_hours,
            "days": days,
            "hours_from": hours_from,
            "hours_to": hours_to,
            "sensor_type_id": q.sensor_type_id,
            "room_id": q.room_id,
            "sensor_id": q.sensor_id,
            "building_id": q.building_id,
            "edges": q.edges,
            "first": q.edges[0],
            "last": q.edges[-1],
            "raw_from": raw_from if raw_from is not None else NO_HORIZON,
        },
        name="select buckets",
    )
    return [BucketRow(*r) for r in rows]
