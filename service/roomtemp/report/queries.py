"""SQL for period reports of a building, per room: from the raw captures (one pass over the
period) or from rollup pieces (1-day and 1-hour rollups, raw captures only at the edges)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import pieces


@dataclass(frozen=True)
class RoomPeriodRow:
    """Aggregates of one sensor's captures in one room over [start, end) in canonical units;
    times as Unix seconds. A room without sensors of the type has one row with sensor_id None.

    `held_*` weigh each capture by how long it held (until the sensor's next capture in the room,
    its next move, or the period end). The stretch before the first capture is not included:
    `carried` (the sensor's last value in the room before the period, if any) holds over
    `carry_seconds` (cut at a move), and the service adds it. `lead_seconds`: from the period
    start to the sensor's first capture in it (or the end), a gap candidate.
    """

    room: str
    sensor_id: int | None
    count: int
    mean: float | None
    min: float | None
    min_at: float | None
    max: float | None
    max_at: float | None  # negated in SQL so ties pick the earliest
    held_value_seconds: float | None
    held_seconds: float | None
    held_below: float | None
    held_above: float | None
    gap_seconds: float | None
    gap_start: float | None
    lead_seconds: float
    carried: float | None
    carry_seconds: float


# The building's rooms and each room's sensors of the type (from the assignment history: every
# sensor whose captures can be attributed to the room); the head of both report statements.
_ROOM_SENSORS = """
    rooms AS (
        SELECT id, key FROM room WHERE building_id = :building_id
    ),
    rs AS (
        SELECT DISTINCT a.room_id, a.sensor_id FROM rooms r
        JOIN sensor_assignment a ON a.room_id = r.id
        JOIN sensor se ON se.id = a.sensor_id AND se.sensor_type_id = :sensor_type_id
    )"""

# Every room with each of its sensors, the sensor's aggregate (if any) and `carry`, its last value
# in the room before the period, held until its first capture in the period, the end, or its
# next move; the tail of both report statements.
_ROOMS_WITH_CARRY = """
    FROM rooms r
    LEFT JOIN rs ON rs.room_id = r.id
    LEFT JOIN agg a ON a.room_id = rs.room_id AND a.sensor_id = rs.sensor_id
    LEFT JOIN LATERAL (
        SELECT c.ts, c.value FROM capture c
        WHERE c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id AND c.ts < :start
        ORDER BY c.ts DESC LIMIT 1
    ) AS carry ON true
    LEFT JOIN LATERAL (
        SELECT min(m.valid_from) AS t FROM sensor_assignment m
        WHERE m.sensor_id = rs.sensor_id AND m.valid_from > carry.ts
    ) AS moved ON true
    ORDER BY r.key, rs.sensor_id
"""

# lead_seconds, carried, carry_seconds (for _ROOMS_WITH_CARRY, with agg's first_ts).
_CARRY_COLUMNS = """
           CAST(EXTRACT(EPOCH FROM COALESCE(a.first_ts, CAST(:end AS timestamptz))
                - CAST(:start AS timestamptz)) AS double precision),
           carry.value,
           GREATEST(0, CAST(EXTRACT(EPOCH FROM LEAST(
               COALESCE(a.first_ts, CAST(:end AS timestamptz)),
               COALESCE(moved.t, CAST('infinity' AS timestamptz)))
                - CAST(:start AS timestamptz)) AS double precision))"""


# date_part (double precision) rather than EXTRACT (numeric): half the time on large periods;
# of interval differences, so held durations are exact to the microsecond (db/pieces.py).
# Arrays compare element by element, so min(ARRAY[value, epoch]) is the minimum with the earliest
# time it occurred; max over negated epochs likewise. A move of a sensor within the period is a
# row without a value in the sensor's stream in each of its rooms: it ends the stretch held by
# the capture before it (ordered before a capture at the same instant, which is the new room's).
_REPORT = text(
    f"""
    WITH {_ROOM_SENSORS},
    e AS (
        SELECT c.room_id, c.sensor_id, c.ts, c.value
        FROM rs JOIN capture c ON c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id
        WHERE c.ts >= :start AND c.ts < :end
        UNION ALL
        SELECT rs.room_id, rs.sensor_id, m.valid_from, CAST(NULL AS double precision)
        FROM rs JOIN sensor_assignment m ON m.sensor_id = rs.sensor_id
        WHERE m.valid_from > :start AND m.valid_from < :end
    ),
    s AS (
        SELECT e.room_id, e.sensor_id, e.ts, e.value,
               date_part('epoch', e.ts) AS at,
               date_part('epoch', COALESCE(LEAD(e.ts) OVER (
                   PARTITION BY e.room_id, e.sensor_id ORDER BY e.ts, e.value IS NOT NULL),
                   CAST(:end AS timestamptz)) - e.ts) AS held
        FROM e
    ),
    agg AS (
        SELECT room_id, sensor_id, count(*) AS n, avg(value) AS mean,
               min(ARRAY[value, at]) AS lo,
               max(ARRAY[value, -at]) AS hi,
               min(ts) AS first_ts,
               max(ARRAY[held, -at]) AS gap,
               sum(value * held) AS vs,
               sum(held) AS secs,
               COALESCE(sum(held) FILTER (WHERE value < :low), 0) AS below,
               COALESCE(sum(held) FILTER (WHERE value > :high), 0) AS above
        FROM s WHERE value IS NOT NULL GROUP BY room_id, sensor_id
    )
    SELECT r.key, rs.sensor_id, COALESCE(a.n, 0), a.mean, a.lo[1], a.lo[2], a.hi[1], -a.hi[2],
           a.vs, a.secs, a.below, a.above, a.gap[1], -a.gap[2],
           {_CARRY_COLUMNS}
    {_ROOMS_WITH_CARRY}
    """  # noqa: S608 - fixed fragments; values are bound
)


@dataclass(frozen=True)
class Layout:
    """How [start, end) splits into rollup pieces (keyed by their start, [start, start +
    stride)) and raw edges: raw [start, h0), 1 h [h0, d0), 1 d [d0, d1), 1 h [d1, h1),
    raw [h1, end). Empty parts have equal bounds."""

    h0: datetime
    d0: datetime
    d1: datetime
    h1: datetime


# The pieces of each (room, sensor) in time order: raw edges summarised like the 1-hour rollups
# are (split at the sensor's moves, so no piece spans one), the rollup rows, then one merge;
# `seg` of a piece runs to the next piece, the period end, or the sensor's next move, whichever
# comes first, so the merge also counts the stretch after the last capture. `held` is then the
# pieces' spans plus their segs. Same output as _REPORT, plus `valid`: whether the rollups
# counted comfort seconds for (:low, :high), read in the same snapshot as the rollups
# (set_comfort changes bounds and rollups in one transaction; reads may be autocommit).
_ROLLUP_REPORT = text(
    f"""
    WITH {_ROOM_SENSORS},
    e AS (
        SELECT c.room_id, c.sensor_id, c.ts, c.value, c.ts >= :h1 AS tail,
               (SELECT count(*) FROM sensor_assignment m
                WHERE m.sensor_id = c.sensor_id AND m.valid_from <= c.ts) AS stay
        FROM rs JOIN capture c ON c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id
        WHERE (c.ts >= :start AND c.ts < :h0) OR (c.ts >= :h1 AND c.ts < :end)
    ),
    s AS (
        SELECT e.*, date_part('epoch', e.ts) AS at,
               date_part('epoch', LEAD(e.ts) OVER (
                   PARTITION BY e.room_id, e.sensor_id, e.tail, e.stay ORDER BY e.ts) - e.ts)
                   AS held
        FROM e
    ),
    p AS (
        SELECT s.room_id, s.sensor_id, {pieces.of_captures(":low", ":high")}
        FROM s GROUP BY s.room_id, s.sensor_id, s.tail, s.stay
        UNION ALL
        SELECT x.room_id, x.sensor_id, {pieces.column_list("x.")}
        FROM rs JOIN capture_rollup_1h x
          ON x.room_id = rs.room_id AND x.sensor_id = rs.sensor_id
        WHERE (x.start >= :h0 AND x.start < :d0) OR (x.start >= :d1 AND x.start < :h1)
        UNION ALL
        SELECT x.room_id, x.sensor_id, {pieces.column_list("x.")}
        FROM rs JOIN capture_rollup_1d x
          ON x.room_id = rs.room_id AND x.sensor_id = rs.sensor_id
        WHERE x.start >= :d0 AND x.start < :d1
    ),
    ordered AS (
        SELECT p.*, date_part('epoch', LEAST(
                   COALESCE(LEAD(p.first_ts) OVER (
                       PARTITION BY p.room_id, p.sensor_id ORDER BY p.first_ts),
                       CAST(:end AS timestamptz)),
                   COALESCE((SELECT min(m.valid_from) FROM sensor_assignment m
                             WHERE m.sensor_id = p.sensor_id AND m.valid_from > p.last_ts),
                            CAST('infinity' AS timestamptz))) - p.last_ts) AS seg
        FROM p
    ),
    agg AS (
        SELECT p.room_id, p.sensor_id, {pieces.of_pieces(":low", ":high")},
               sum(date_part('epoch', p.last_ts - p.first_ts) + p.seg) AS held
        FROM ordered p GROUP BY p.room_id, p.sensor_id
    )
    SELECT r.key, rs.sensor_id, COALESCE(a.count, 0), a.sum / a.count,
           a.min, date_part('epoch', a.min_ts), a.max, date_part('epoch', a.max_ts),
           a.value_seconds, a.held,
           a.below_seconds, a.above_seconds, a.gap_seconds, date_part('epoch', a.gap_start),
           {_CARRY_COLUMNS},
           EXISTS (
               SELECT 1 FROM sensor_type
               WHERE id = :sensor_type_id
                 AND (NOT :with_shares OR (comfort_low = :low AND comfort_high = :high))
           ) AS valid
    {_ROOMS_WITH_CARRY}
    """  # noqa: S608 - fixed fragments; values are bound
)


@dataclass(frozen=True)
class PeriodQuery:
    """What both report statements read: a building's rooms, one sensor type, [start, end),
    comfort bounds in the canonical unit. Its fields are the statements' bound parameters."""

    building_id: int
    sensor_type_id: int
    start: datetime
    end: datetime
    low: float
    high: float


async def select_room_periods(conn: AsyncConnection, period: PeriodQuery) -> list[RoomPeriodRow]:
    rows = await conn.execute(_REPORT, asdict(period))
    return [RoomPeriodRow(*r) for r in rows]


async def select_room_periods_from_rollups(
    conn: AsyncConnection, period: PeriodQuery, layout: Layout, with_shares: bool
) -> list[RoomPeriodRow] | None:
    """As select_room_periods, or None when the rollups' comfort seconds are not for
    (low, high) and `with_shares` (the caller then reads raw captures)."""
    rows = await conn.execute(
        _ROLLUP_REPORT, {**asdict(period), **asdict(layout), "with_shares": with_shares}
    )
    out = []
    for r in rows:
        if not r[-1]:
            return None
        out.append(RoomPeriodRow(*r[:-1]))
    return out
