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
from datetime import datetime

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
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


# `rs(g, room_id, sensor_id)`: the (room, sensor) pairs read, g the group; `groups(g, key)`: the
# groups answered (every one gets every bucket); `prev(g, sensor_id, ts, value)`: the carry;
# `cut(g, sensor_id, t0)`: moves that end a held stretch (none for a sensor's own series).
_ROOM_KEYS = """
    rs AS (
        SELECT DISTINCT a.room_id AS g, a.room_id, a.sensor_id FROM sensor_assignment a
        JOIN sensor se ON se.id = a.sensor_id AND se.sensor_type_id = :sensor_type_id
        WHERE a.room_id = :room_id
    ),
    groups AS (SELECT CAST(:room_id AS integer) AS g, CAST(NULL AS text) AS key)"""

_BUILDING_KEYS = """
    rooms AS (SELECT id, key FROM room WHERE building_id = :building_id),
    rs AS (
        SELECT DISTINCT a.room_id AS g, a.room_id, a.sensor_id FROM rooms r
        JOIN sensor_assignment a ON a.room_id = r.id
        JOIN sensor se ON se.id = a.sensor_id AND se.sensor_type_id = :sensor_type_id
    ),
    groups AS (SELECT id AS g, key FROM rooms)"""

_SENSOR_KEYS = """
    rs AS (  -- one sensor, in each room it has been in: one group
        SELECT DISTINCT 0 AS g, room_id, sensor_id FROM sensor_assignment
        WHERE sensor_id = CAST(:sensor_id AS integer)
    ),
    groups AS (SELECT 0 AS g, CAST(NULL AS text) AS key)"""

# Carry: per (room, sensor) its last capture before `first` (one backward index step each).
_ROOM_CARRY = """
    prev AS (
        SELECT rs.g, rs.sensor_id, p.ts, p.value FROM rs CROSS JOIN LATERAL (
            SELECT c.ts, c.value FROM capture c
            WHERE c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id AND c.ts < :first
            ORDER BY c.ts DESC LIMIT 1
        ) AS p
    ),
    cut AS (  -- moves that can end a held stretch: after the carried capture, before `last`
        SELECT rs.g, rs.sensor_id, GREATEST(a.valid_from, CAST(:first AS timestamptz)) AS t0
        FROM rs JOIN sensor_assignment a ON a.sensor_id = rs.sensor_id
        LEFT JOIN prev ON prev.g = rs.g AND prev.sensor_id = rs.sensor_id
        WHERE a.valid_from < :last
          AND a.valid_from > COALESCE(prev.ts, CAST(:first AS timestamptz))
    )"""

# A sensor's own series: its last capture anywhere before `first`; moves cut nothing.
_SENSOR_CARRY = """
    prev AS (
        SELECT 0 AS g, CAST(:sensor_id AS integer) AS sensor_id, p.ts, p.value
        FROM rs CROSS JOIN LATERAL (
            SELECT c.ts, c.value FROM capture c
            WHERE c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id AND c.ts < :first
            ORDER BY c.ts DESC LIMIT 1
        ) AS p
        ORDER BY p.ts DESC LIMIT 1
    ),
    cut AS (SELECT 0 AS g, 0 AS sensor_id, CAST(NULL AS timestamptz) AS t0 WHERE false)"""

# Held stretches [a, z) split at the edges: ia/iz = the buckets of a and z (width_bucket: i with
# edges[i] <= x < edges[i + 1]). Most stretches lie in one bucket (the first part); a stretch
# that crosses edges adds its tail in bucket iz and whole buckets ia+1 … iz-1 in between.
_BODY = """
    ed AS (SELECT CAST(:edges AS timestamptz[]) AS e),
    w AS (
        SELECT rs.g, c.sensor_id, c.ts, c.value
        FROM rs JOIN capture c ON c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id
        WHERE c.ts >= :first AND c.ts < :last
    ),
    ev AS (
        SELECT g, sensor_id, ts AS t0, 2 AS o, value FROM w
        UNION ALL SELECT g, sensor_id, CAST(:first AS timestamptz), 0, value FROM prev
        UNION ALL SELECT g, sensor_id, t0, 1, CAST(NULL AS double precision) FROM cut
    ),
    seg AS (
        SELECT g, sensor_id, value, t0 AS a,
               COALESCE(LEAD(t0) OVER (PARTITION BY g, sensor_id ORDER BY t0, o),
                        CAST(:last AS timestamptz)) AS z
        FROM ev
    ),
    sb AS (
        SELECT seg.*, width_bucket(seg.a, ed.e) AS ia, width_bucket(seg.z, ed.e) AS iz, ed.e
        FROM seg CROSS JOIN ed WHERE seg.value IS NOT NULL AND seg.z > seg.a
    ),
    held AS (
        SELECT g, sensor_id, ia AS i, value, date_part('epoch', LEAST(z, e[ia + 1]) - a) AS x
        FROM sb
        UNION ALL
        SELECT g, sensor_id, iz, value, date_part('epoch', z - e[iz])
        FROM sb WHERE iz > ia AND z > e[iz]
        UNION ALL
        SELECT g, sensor_id, j, value, date_part('epoch', e[j + 1] - e[j])
        FROM sb CROSS JOIN LATERAL generate_series(ia + 1, iz - 1) AS j
        WHERE iz > ia + 1
    ),
    hs AS (
        SELECT g, sensor_id, i, sum(value * x) AS vs, sum(x) AS secs
        FROM held GROUP BY g, sensor_id, i
    ),
    cap AS (
        SELECT w.g, w.sensor_id, width_bucket(w.ts, ed.e) AS i,
               count(*) AS n, sum(w.value) AS s, min(w.value) AS lo, max(w.value) AS hi
        FROM w CROSS JOIN ed GROUP BY w.g, w.sensor_id, width_bucket(w.ts, ed.e)
    ),
    agg AS (  -- pooled over the sensors with a capture in the bucket
        SELECT cap.g, cap.i, CAST(sum(cap.n) AS bigint) AS n, sum(cap.s) AS s, min(cap.lo) AS lo,
               max(cap.hi) AS hi, avg(hs.vs / NULLIF(hs.secs, 0)) AS twm,
               count(*) AS sensors
        FROM cap LEFT JOIN hs USING (g, sensor_id, i)
        GROUP BY cap.g, cap.i
    )
    SELECT groups.key, b.i, CAST(COALESCE(agg.n, 0) AS integer), agg.s / agg.n, agg.lo, agg.hi,
           agg.twm, CAST(COALESCE(agg.sensors, 0) AS integer)
    FROM groups
    CROSS JOIN ed CROSS JOIN LATERAL generate_series(1, cardinality(ed.e) - 1) AS b(i)
    LEFT JOIN agg ON agg.g = groups.g AND agg.i = b.i
    ORDER BY groups.key, b.i
"""


def _statement(keys: str, carry: str) -> TextClause:
    return text(f"WITH {keys},{carry},{_BODY}")


ROOM_BUCKETS = _statement(_ROOM_KEYS, _ROOM_CARRY)
SENSOR_BUCKETS = _statement(_SENSOR_KEYS, _SENSOR_CARRY)
BUILDING_BUCKETS = _statement(_BUILDING_KEYS, _ROOM_CARRY)


@dataclass(frozen=True)
class BucketQuery:
    """What the bucket statements read: one of room_id / sensor_id / building_id, the sensor
    type, and the edges (UTC, ascending, at least two)."""

    sensor_type_id: int
    edges: list[datetime]
    room_id: int | None = None
    sensor_id: int | None = None
    building_id: int | None = None


async def select_buckets(conn: AsyncConnection, q: BucketQuery) -> list[BucketRow]:
    """Every bucket of every group, in order (group key, bucket)."""
    if q.building_id is not None:
        statement = BUILDING_BUCKETS
    elif q.sensor_id is not None:
        statement = SENSOR_BUCKETS
    else:
        statement = ROOM_BUCKETS
    rows = await conn.execute(
        statement,
        {
            "sensor_type_id": q.sensor_type_id,
            "room_id": q.room_id,
            "sensor_id": q.sensor_id,
            "building_id": q.building_id,
            "edges": q.edges,
            "first": q.edges[0],
            "last": q.edges[-1],
        },
    )
    return [BucketRow(*r) for r in rows]


# A building's time zone by key (NULL: none set, the default applies).
_ZONE_OF_BUILDING = text("SELECT time_zone FROM building WHERE key = :building")


async def select_building_zone(conn: AsyncConnection, building: str) -> str | None:
    return (await conn.execute(_ZONE_OF_BUILDING, {"building": building})).scalar()
