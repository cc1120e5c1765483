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
    """Aggregates over [start, end) in canonical units; times as Unix seconds.

    `held_*` weigh each capture by how long it held (until the next one or the period end).
    The stretch before the first capture is not included: `carried` (the last value before
    the period, if any) holds over `lead_seconds`, and the service adds it.
    """

    room: str
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


# Every room of the building with its aggregate (if any) and `carry`, its last value before the
# period; the tail of both report statements.
_ROOMS_WITH_CARRY = """
    FROM rooms r
    LEFT JOIN agg a ON a.room_id = r.id
    LEFT JOIN LATERAL (
        SELECT c.value FROM capture c
        WHERE c.room_id = r.id AND c.sensor_type_id = :sensor_type_id AND c.ts < :start
        ORDER BY c.ts DESC LIMIT 1
    ) AS carry ON true
    ORDER BY r.key
"""


# date_part (double precision) rather than EXTRACT (numeric): half the time on large periods.
# Arrays compare element by element, so min(ARRAY[value, epoch]) is the minimum with the earliest
# time it occurred; max over negated epochs likewise. No sort beyond the per-room LEAD.
_REPORT = text(
    f"""
    WITH rooms AS (
        SELECT id, key FROM room WHERE building_id = :building_id
    ),
    s AS (
        SELECT c.room_id, c.ts, c.value,
               date_part('epoch', c.ts) AS at,
               COALESCE(LEAD(date_part('epoch', c.ts)) OVER (
                   PARTITION BY c.room_id ORDER BY c.ts),
                   date_part('epoch', CAST(:end AS timestamptz))) - date_part('epoch', c.ts)
                   AS held
        FROM capture c
        WHERE c.room_id IN (SELECT id FROM rooms) AND c.sensor_type_id = :sensor_type_id
          AND c.ts >= :start AND c.ts < :end
    ),
    agg AS (
        SELECT room_id, count(*) AS n, avg(value) AS mean,
               min(ARRAY[value, at]) AS lo,
               max(ARRAY[value, -at]) AS hi,
               min(ts) AS first_ts,
               max(ARRAY[held, -at]) AS gap,
               sum(value * held) AS vs,
               sum(held) AS secs,
               COALESCE(sum(held) FILTER (WHERE value < :low), 0) AS below,
               COALESCE(sum(held) FILTER (WHERE value > :high), 0) AS above
        FROM s GROUP BY room_id
    )
    SELECT r.key, COALESCE(a.n, 0), a.mean, a.lo[1], a.lo[2], a.hi[1], -a.hi[2],
           a.vs, a.secs, a.below, a.above, a.gap[1], -a.gap[2],
           CAST(EXTRACT(EPOCH FROM COALESCE(a.first_ts, CAST(:end AS timestamptz))
                - CAST(:start AS timestamptz)) AS double precision),
           carry.value
    {_ROOMS_WITH_CARRY}
    """  # noqa: S608 - fixed fragments; values are bound
)


@dataclass(frozen=True)
class Layout:
    """How [start, end) splits into rollup buckets (keyed by their end, (end - stride, end]) and
    raw edges: raw [start, h0], 1 h (h0, d0], 1 d (d0, d1], 1 h (d1, h1], raw (h1, end).
    Empty parts have equal bounds."""

    h0: datetime
    d0: datetime
    d1: datetime
    h1: datetime


# The pieces of each room in time order: raw edges summarised like the 1-hour rollups are, the
# rollup rows, then one merge; `seg` of the last piece runs to the period end, so the merge also
# counts the stretch after the last capture. Same output as _REPORT, plus `valid`: whether the
# rollups counted comfort seconds for (:low, :high), read in the same snapshot as the rollups
# (set_comfort changes bounds and rollups in one transaction; reads may be autocommit).
_ROLLUP_REPORT = text(
    f"""
    WITH rooms AS (
        SELECT id, key FROM room WHERE building_id = :building_id
    ),
    s AS (
        SELECT c.room_id, c.ts, c.value, date_part('epoch', c.ts) AS at, c.ts > :h1 AS tail,
               date_part('epoch', LEAD(c.ts) OVER (
                   PARTITION BY c.room_id, c.ts > :h1 ORDER BY c.ts) - c.ts) AS held
        FROM capture c
        WHERE c.room_id IN (SELECT id FROM rooms) AND c.sensor_type_id = :sensor_type_id
          AND ((c.ts >= :start AND c.ts <= :h0) OR (c.ts > :h1 AND c.ts < :end))
    ),
    p AS (
        SELECT s.room_id, {pieces.of_captures(":low", ":high")}
        FROM s GROUP BY s.room_id, s.tail
        UNION ALL
        SELECT room_id, {pieces.column_list()} FROM capture_rollup_1h
        WHERE room_id IN (SELECT id FROM rooms) AND sensor_type_id = :sensor_type_id
          AND ((bucket > :h0 AND bucket <= :d0) OR (bucket > :d1 AND bucket <= :h1))
        UNION ALL
        SELECT room_id, {pieces.column_list()} FROM capture_rollup_1d
        WHERE room_id IN (SELECT id FROM rooms) AND sensor_type_id = :sensor_type_id
          AND bucket > :d0 AND bucket <= :d1
    ),
    ordered AS (
        SELECT p.*, date_part('epoch', COALESCE(
                   LEAD(p.first_ts) OVER (PARTITION BY p.room_id ORDER BY p.first_ts),
                   CAST(:end AS timestamptz)) - p.last_ts) AS seg
        FROM p
    ),
    agg AS (
        SELECT p.room_id, {pieces.of_pieces(":low", ":high")}
        FROM ordered p GROUP BY p.room_id
    )
    SELECT r.key, COALESCE(a.count, 0), a.sum / a.count,
           a.min, date_part('epoch', a.min_ts), a.max, date_part('epoch', a.max_ts),
           a.value_seconds,
           date_part('epoch', CAST(:end AS timestamptz) - a.first_ts),
           a.below_seconds, a.above_seconds, a.gap_seconds, date_part('epoch', a.gap_start),
           CAST(EXTRACT(EPOCH FROM COALESCE(a.first_ts, CAST(:end AS timestamptz))
                - CAST(:start AS timestamptz)) AS double precision),
           carry.value,
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
