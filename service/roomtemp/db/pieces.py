"""Pieces: the one way to summarise a stretch of one room's captures so that stretches merge.

A piece of consecutive captures holds count, sum, min and max (each extreme with the first time
it occurred), the first and the last capture, and over its INTERNAL segments (from each capture
to the next one in the piece) the time integral of the value, the seconds below and above the
comfort bounds and the longest segment with its start. Pieces of one room in time order merge
exactly: the segment between piece A's last capture and piece B's first one is held by A's last
value, so it adds A.last_value x length to the integral, counts as below/above by that value,
and is a gap candidate starting at A.last_ts.

The 1-hour and 1-day rollups are pieces (1 h from the raw captures, 1 d merged from the 1-h
pieces) and the period report merges rollup pieces with pieces of the raw captures at its
edges, all with these two fragments. Times go through Unix seconds (double precision, exact to
the microsecond for our dates after to_timestamp's rounding) so that arrays can order
(value, time) pairs: min(ARRAY[v, t]) is the minimum with the earliest time it occurred,
max(ARRAY[v, -t]) the maximum likewise. Durations (`held`, `seg`) are taken from interval
differences, not from differences of Unix seconds, so they are exact to the microsecond.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# Columns of a piece, in the order the fragments produce them and the tables store them.
COLUMNS = (
    "count",
    "sum",
    "min",
    "max",
    "min_ts",
    "max_ts",
    "first_ts",
    "first_value",
    "last_ts",
    "last_value",
    "value_seconds",
    "below_seconds",
    "above_seconds",
    "gap_seconds",
    "gap_start",
)

# Aggregates over `s(ts, value, at, held)`: one piece's captures, `at` = Unix seconds of ts,
# `held` = seconds to the next capture IN THE SAME PIECE (NULL for its last capture).
# {low} and {high} are SQL expressions for the comfort bounds (NULL bounds count nothing).
OF_CAPTURES = """
    CAST(count(*) AS integer) AS count, sum(s.value) AS sum,
    min(s.value) AS min, max(s.value) AS max,
    to_timestamp((min(ARRAY[s.value, s.at]))[2]) AS min_ts,
    to_timestamp(-(max(ARRAY[s.value, -s.at]))[2]) AS max_ts,
    min(s.ts) AS first_ts, (min(ARRAY[s.at, s.value]))[2] AS first_value,
    max(s.ts) AS last_ts, (max(ARRAY[s.at, s.value]))[2] AS last_value,
    COALESCE(sum(s.value * s.held), 0) AS value_seconds,
    COALESCE(sum(s.held) FILTER (WHERE s.value < {low}), 0) AS below_seconds,
    COALESCE(sum(s.held) FILTER (WHERE s.value > {high}), 0) AS above_seconds,
    COALESCE((max(ARRAY[s.held, -s.at]) FILTER (WHERE s.held IS NOT NULL))[1], 0)
        AS gap_seconds,
    COALESCE(to_timestamp(-(max(ARRAY[s.held, -s.at]) FILTER (WHERE s.held IS NOT NULL))[2]),
             min(s.ts)) AS gap_start
"""

# Aggregates over `p(<COLUMNS>, seg)`: pieces of one room, `seg` = seconds from p.last_ts to the
# next piece's first capture (or to the end of what is summarised; NULL: nothing follows).
OF_PIECES = """
    CAST(sum(p.count) AS integer) AS count, sum(p.sum) AS sum,
    min(p.min) AS min, max(p.max) AS max,
    to_timestamp((min(ARRAY[p.min, date_part('epoch', p.min_ts)]))[2]) AS min_ts,
    to_timestamp(-(max(ARRAY[p.max, -date_part('epoch', p.max_ts)]))[2]) AS max_ts,
    min(p.first_ts) AS first_ts,
    (min(ARRAY[date_part('epoch', p.first_ts), p.first_value]))[2] AS first_value,
    max(p.last_ts) AS last_ts,
    (max(ARRAY[date_part('epoch', p.last_ts), p.last_value]))[2] AS last_value,
    sum(p.value_seconds) + COALESCE(sum(p.last_value * p.seg), 0) AS value_seconds,
    sum(p.below_seconds) + COALESCE(sum(p.seg) FILTER (WHERE p.last_value < {low}), 0)
        AS below_seconds,
    sum(p.above_seconds) + COALESCE(sum(p.seg) FILTER (WHERE p.last_value > {high}), 0)
        AS above_seconds,
    (max(GREATEST(ARRAY[p.gap_seconds, -date_part('epoch', p.gap_start)],
                  ARRAY[COALESCE(p.seg, -1), -date_part('epoch', p.last_ts)])))[1]
        AS gap_seconds,
    to_timestamp(-(max(GREATEST(ARRAY[p.gap_seconds, -date_part('epoch', p.gap_start)],
                                ARRAY[COALESCE(p.seg, -1), -date_part('epoch', p.last_ts)])))[2])
        AS gap_start
"""


def of_captures(low: str, high: str) -> str:
    """OF_CAPTURES with its bounds (SQL expressions written in this package, never input)."""
    return OF_CAPTURES.format(low=low, high=high)


def of_pieces(low: str, high: str) -> str:
    return OF_PIECES.format(low=low, high=high)


def column_list(prefix: str = "") -> str:
    return ", ".join(prefix + c for c in COLUMNS)


def appended(old: str, new: str, low: str, high: str) -> str:
    """`column = expression` for each column: piece {old} followed by piece {new}.

    Only for `{old}.last_ts < {new}.first_ts`; the same result as OF_PIECES over the two. Ties go
    to the earlier time as there: every time in {old} comes before every time in {new}.
    """
    seg = f"date_part('epoch', {new}.first_ts - {old}.last_ts)"
    o, n = old, new
    exprs = {
        "count": f"{o}.count + {n}.count",
        "sum": f"{o}.sum + {n}.sum",
        "min": f"LEAST({o}.min, {n}.min)",
        "max": f"GREATEST({o}.max, {n}.max)",
        "min_ts": f"CASE WHEN {n}.min < {o}.min THEN {n}.min_ts ELSE {o}.min_ts END",
        "max_ts": f"CASE WHEN {n}.max > {o}.max THEN {n}.max_ts ELSE {o}.max_ts END",
        "first_ts": f"{o}.first_ts",
        "first_value": f"{o}.first_value",
        "last_ts": f"{n}.last_ts",
        "last_value": f"{n}.last_value",
        "value_seconds": f"{o}.value_seconds + {n}.value_seconds + {o}.last_value * {seg}",
        "below_seconds": f"{o}.below_seconds + {n}.below_seconds"
        f" + CASE WHEN {o}.last_value < {low} THEN {seg} ELSE 0 END",
        "above_seconds": f"{o}.above_seconds + {n}.above_seconds"
        f" + CASE WHEN {o}.last_value > {high} THEN {seg} ELSE 0 END",
        "gap_seconds": f"GREATEST({o}.gap_seconds, {seg}, {n}.gap_seconds)",
        "gap_start": f"CASE WHEN {o}.gap_seconds >= GREATEST({seg}, {n}.gap_seconds)"
        f" THEN {o}.gap_start WHEN {seg} >= {n}.gap_seconds THEN {o}.last_ts"
        f" ELSE {n}.gap_start END",
    }
    assert tuple(exprs) == COLUMNS
    return ", ".join(f"{c} = {e}" for c, e in exprs.items())


def _on_hour(t: datetime) -> bool:
    return t.minute == 0 and t.second == 0 and t.microsecond == 0


def rollup_layout(edges: list[datetime]) -> tuple[list[datetime], list[datetime]]:
    """Which pieces cover the buckets or periods between `edges` (UTC, ascending): the UTC
    hours holding an edge off the hour (read raw) and the UTC days inside [edges[0], edges[-1])
    with no edge inside (read as 1-day pieces); every other hour is a whole 1-hour piece of one
    bucket. Bucket series and period reports both read this way."""
    day = timedelta(days=1)
    raw = sorted({e.replace(minute=0, second=0, microsecond=0) for e in edges if not _on_hour(e)})
    days = []
    d = edges[0].replace(hour=0, minute=0, second=0, microsecond=0)
    if d < edges[0]:
        d += day
    i = 0
    while d + day <= edges[-1]:
        while i < len(edges) and edges[i] <= d:
            i += 1
        if i == len(edges) or edges[i] >= d + day:
            days.append(d)
        d += day
    return raw, days


def hour_runs(
    edges: list[datetime], raw_hours: list[datetime], days: list[datetime]
) -> tuple[list[datetime], list[datetime]]:
    """The runs [starts[k], ends[k]) of whole UTC hours of [edges[0], edges[-1]) that are
    neither raw hours nor inside `days` (rollup_layout): where 1-hour pieces are read, as index
    ranges, so that a statement never reads the hour pieces of a day it reads whole."""
    hour = timedelta(hours=1)
    first, last = edges[0], edges[-1]
    start = first.replace(minute=0, second=0, microsecond=0)
    if start < first:
        start += hour
    end = last.replace(minute=0, second=0, microsecond=0)
    holes = sorted([(h, h + hour) for h in raw_hours] + [(d, d + timedelta(days=1)) for d in days])
    starts: list[datetime] = []
    ends: list[datetime] = []
    t = start
    for a, z in holes:
        if a > t and t < end:
            starts.append(t)
            ends.append(min(a, end))
        t = max(t, z)
    if t < end:
        starts.append(t)
        ends.append(end)
    return starts, ends


#: The raw horizon when nothing was dropped (before every capture).
NO_HORIZON = datetime.min.replace(tzinfo=UTC)

# The last capture of (rs.room_id, rs.sensor_id) before `first`: from the raw captures, or,
# where they were dropped (before :raw_from, the raw horizon), from the last 1-hour or 1-day piece
# before it (its last_ts, last_value): one backward index step in each, the latest wins.
LAST_BEFORE_FIRST = """
            SELECT u.ts, u.value FROM (
                (SELECT c.ts, c.value FROM capture c
                 WHERE c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id AND c.ts < :first
                 ORDER BY c.ts DESC LIMIT 1)
                UNION ALL
                (SELECT x.last_ts, x.last_value FROM capture_rollup_1h x
                 WHERE x.room_id = rs.room_id AND x.sensor_id = rs.sensor_id
                   AND x.start < :raw_from
                   AND x.start <= CAST(:first AS timestamptz) - CAST('1 hour' AS interval)
                 ORDER BY x.start DESC LIMIT 1)
                UNION ALL
                (SELECT x.last_ts, x.last_value FROM capture_rollup_1d x
                 WHERE x.room_id = rs.room_id AND x.sensor_id = rs.sensor_id
                   AND x.start < :raw_from
                   AND x.start <= CAST(:first AS timestamptz) - CAST('1 day' AS interval)
                 ORDER BY x.start DESC LIMIT 1)
            ) AS u
            ORDER BY u.ts DESC LIMIT 1"""
