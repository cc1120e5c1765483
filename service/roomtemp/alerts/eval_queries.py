"""SQL of one evaluation round: the lock, the rules, one set-based statement per rule kind, and
the bulk writes of alerts, transitions and outbox rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db import citus_modes, driver
from roomtemp.db.tables import alert_evaluation, alert_rule, building

#: pg_try_advisory_xact_lock key of the evaluation round: one evaluator at a time.
ALERT_LOCK = 727274011

_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")


async def try_lock(conn: AsyncConnection) -> bool:
    """Hold the evaluation lock until the transaction ends; False if another evaluator has it.
    Also puts the transaction in Citus' sequential modify mode (roomtemp.db.citus_modes)."""
    locked = bool(await conn.scalar(_TRY_LOCK, {"key": ALERT_LOCK}))
    if locked:
        await citus_modes.one_connection_per_node(conn)
    return locked


async def last_evaluation(conn: AsyncConnection) -> datetime | None:
    at: datetime | None = await conn.scalar(select(func.max(alert_evaluation.c.at)))
    return at


async def record_evaluation(
    conn: AsyncConnection, at: datetime, rules: int, rooms: int, transitions: int, seconds: float
) -> None:
    await conn.execute(
        insert(alert_evaluation).values(
            at=at, rules=rules, rooms=rooms, transitions=transitions, seconds=seconds
        )
    )


@dataclass(frozen=True)
class RuleRow:
    id: int
    kind: str
    threshold: float | None
    clear_threshold: float | None
    window_seconds: int
    for_seconds: int
    clear_after_seconds: int
    silent_seconds: int | None
    schedule: dict[str, Any] | None
    time_zone: str | None  # the building's; None: the DEFAULT_TIME_ZONE setting


async def select_enabled_rules(conn: AsyncConnection) -> list[RuleRow]:
    r = alert_rule.c
    rows = await conn.execute(
        select(
            r.id,
            r.kind,
            r.threshold,
            r.clear_threshold,
            r.window_seconds,
            r.for_seconds,
            r.clear_after_seconds,
            r.silent_seconds,
            r.schedule,
            building.c.time_zone,
        )
        .join(building, building.c.id == r.building_id)
        .where(r.enabled)
    )
    return [RuleRow(*row) for row in rows]


@dataclass(frozen=True)
class Observed:
    """One (rule, room) of a round: in an enabled rule's scope, an open alert, or both."""

    rule_id: int
    room_id: int
    in_scope: bool
    count: int  # captures in the window (above/below); 0 for silent
    value: float | None  # pooled mean (above/below); seconds since the last capture (silent)
    silent: bool
    alert_id: int | None
    state: str | None
    started_at: datetime | None
    fired_at: datetime | None
    clearing_since: datetime | None


# The (rule, room) pairs of the enabled rules of one kind: every room of the building, or one
# (two branches, not one join with `room_id IS NULL OR …`, which the planner estimated at one row
# and then looped). Local and reference tables only: on Citus this part runs on the coordinator.
_PAIRS = """
    p AS MATERIALIZED (
        SELECT ru.id AS rule_id, ru.sensor_type_id, r.id AS room_id, ru.threshold,
               ru.created_at, ru.silent_seconds, ru.window_seconds
        FROM alert_rule ru JOIN room r ON r.building_id = ru.building_id
        WHERE ru.enabled AND ru.kind = :kind AND ru.room_id IS NULL
        UNION ALL
        SELECT ru.id, ru.sensor_type_id, r.id, ru.threshold, ru.created_at, ru.silent_seconds,
               ru.window_seconds
        FROM alert_rule ru JOIN room r ON r.id = ru.room_id
        WHERE ru.enabled AND ru.kind = :kind
    ),"""

# The facts of the round (`f`): per room of the rules' buildings and sensor type of their rules,
# the captures of the room's sensors of the type, as the API's pooled averages take them (every
# sensor of the type ever assigned to the room, its captures attributed to the room). They start
# from room_sensor (those pairs, distributed by room_id like capture) with a lateral over capture
# per (room, sensor): one index scan each on plain PostgreSQL; on Citus one statement pushed down
# to every shard (the rules' keys, read from the local alert_rule in subqueries, travel there as
# intermediate results). Nothing here may be correlated with the local tables or with the pairs
# `p` (Citus refuses an aggregate or LIMIT in a lateral over them), so `f` is keyed by what the
# rules share, (room, type[, window]), and joined with the pairs afterwards, on the coordinator.
# MATERIALIZED: Citus plans it as its own distributed subplan.
_RULE_BUILDINGS = "SELECT building_id FROM alert_rule WHERE enabled AND kind = :kind"
# The (room, sensor) pairs in key order: the index scans of capture they drive then walk its
# primary key (room_id, sensor_id, ts) in order instead of jumping about it (room_sensor's rows
# are in no order; 0016 filled it from a hash aggregate): 6,000 laterals took 0.014 ms each
# instead of 0.024 ms on plain PostgreSQL. A subquery with ORDER BY is not flattened; the hash
# joins after it keep its order; Citus pushes it down with the rest.
_PAIRS_IN_ORDER = "(SELECT room_id, sensor_id FROM room_sensor ORDER BY room_id, sensor_id) AS rs"
# Open alerts of rules of this kind (enabled or not): they are carried into the round.
_OPEN = """
    o AS (
        SELECT a.id, a.rule_id, a.room_id, a.state, a.started_at, a.fired_at, a.clearing_since
        FROM alert a JOIN alert_rule ru ON ru.id = a.rule_id
        WHERE a.state <> 'resolved' AND ru.kind = :kind
    )"""

# Every open alert of the kind takes the round's value (unknown: no capture in the window, or the
# pair out of scope: it keeps the last) in this same statement; Python then writes only the
# alerts whose state changes. Sending every open alert's value back as parameter arrays cost
# more than the evaluation (26,000 alerts: about 1 s of array dumping in the driver).
_VALUES = """,
    upd AS (
        UPDATE alert AS a SET value = COALESCE(m.value, a.value), updated_at = :at
        FROM o LEFT JOIN m ON m.rule_id = o.rule_id AND m.room_id = o.room_id
        WHERE a.id = o.id
    )"""

_RESULT = """
    SELECT COALESCE(m.rule_id, o.rule_id), COALESCE(m.room_id, o.room_id), m.rule_id IS NOT NULL,
           COALESCE(m.n, 0), m.value, COALESCE(m.silent, false),
           o.id, o.state, o.started_at, o.fired_at, o.clearing_since
    FROM m FULL JOIN o ON o.rule_id = m.rule_id AND o.room_id = m.room_id
    WHERE o.id IS NOT NULL OR m.hit
    ORDER BY 1, 2
"""


def _compose(facts: str, per_kind: str) -> str:
    """WITH the facts, the pairs, the kind's `m`, the open alerts: the round's statement."""
    return "".join(("WITH", facts, _PAIRS, per_kind, _OPEN, _VALUES, _RESULT))


# above/below: the pooled rolling mean over (at - window, at] of the room's sensors of the type,
# exactly as GET …/average counts it, per (room, type, window) of the kind's rules: the count and
# sum of each (room, sensor)'s captures in the window by one index range scan (a lateral the
# planner cannot turn into a hash join over every capture), pooled per room. Grouped by room_id
# inside the lateral: Citus pushes a lateral aggregate correlated with room_sensor down only with
# a GROUP BY when it also reads the rules' windows (an intermediate result there); a pair
# without captures then has no row, as it has none in `f`. Only pairs whose condition holds or
# that have an open alert come back.
MEAN = text(
    _compose(
        f"""
    f AS MATERIALIZED (
        SELECT rs.room_id, w.sensor_type_id, w.window_seconds, CAST(SUM(agg.n) AS bigint) AS n,
               SUM(agg.total) / CAST(SUM(agg.n) AS double precision) AS mean
        FROM {_PAIRS_IN_ORDER}
        JOIN room r ON r.id = rs.room_id
        JOIN sensor se ON se.id = rs.sensor_id
        JOIN (SELECT DISTINCT sensor_type_id, window_seconds FROM alert_rule
              WHERE enabled AND kind = :kind) AS w ON w.sensor_type_id = se.sensor_type_id
        CROSS JOIN LATERAL (
            SELECT COUNT(*) AS n, SUM(c.value) AS total FROM capture c
            WHERE c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id
              AND c.ts > CAST(:at AS timestamptz) - make_interval(secs => w.window_seconds)
              AND c.ts <= :at
            GROUP BY c.room_id
        ) AS agg
        WHERE r.building_id IN ({_RULE_BUILDINGS})
        GROUP BY rs.room_id, w.sensor_type_id, w.window_seconds
    ),""",  # noqa: S608 - fixed fragments; values are bound
        """
    m AS (
        SELECT p.rule_id, p.room_id, COALESCE(f.n, 0) AS n, f.mean AS value, false AS silent,
               CASE WHEN :kind = 'above' THEN f.mean > p.threshold
                    ELSE f.mean < p.threshold END AS hit
        FROM p LEFT JOIN f ON f.room_id = p.room_id AND f.sensor_type_id = p.sensor_type_id
                          AND f.window_seconds = p.window_seconds
    ),""",
    )
)

# silent: no capture of the type in (at - silent_seconds, at]; a room that never had one counts
# from the rule's creation. The value is the seconds since the newest capture at or before `at`.
# First the newest capture inside the longest span of the kind's rules, per (room, sensor) a
# bounded index range scan (grouped by room_id inside the lateral, as for the mean); it is the
# newest at or before `at` whenever there is one. Only the (room, type)s without one (silent for
# every rule) look further back, by a LIMIT 1 lateral correlated with room_sensor alone (Citus
# pushes it down). Unbounded lookups for every pair read every capture of the sensor in a
# partition: the planner estimates one row for (room, sensor) and sorts instead of walking the
# index back.
_SILENT_TYPES = "SELECT sensor_type_id FROM alert_rule WHERE enabled AND kind = :kind"
SILENT = text(
    _compose(
        f"""
    recent AS MATERIALIZED (
        SELECT rs.room_id, se.sensor_type_id, MAX(l.ts) AS ts
        FROM {_PAIRS_IN_ORDER}
        JOIN room r ON r.id = rs.room_id
        JOIN sensor se ON se.id = rs.sensor_id
        CROSS JOIN (SELECT MAX(silent_seconds) AS secs FROM alert_rule
                    WHERE enabled AND kind = :kind) AS w
        CROSS JOIN LATERAL (
            SELECT MAX(c.ts) AS ts FROM capture c
            WHERE c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id
              AND c.ts > CAST(:at AS timestamptz) - make_interval(secs => w.secs)
              AND c.ts <= :at
            GROUP BY c.room_id
        ) AS l
        WHERE r.building_id IN ({_RULE_BUILDINGS}) AND se.sensor_type_id IN ({_SILENT_TYPES})
        GROUP BY rs.room_id, se.sensor_type_id
    ),
    f AS MATERIALIZED (
        SELECT room_id, sensor_type_id, ts FROM recent
        UNION ALL
        SELECT rs.room_id, se.sensor_type_id, MAX(l.ts)
        FROM {_PAIRS_IN_ORDER}
        JOIN room r ON r.id = rs.room_id
        JOIN sensor se ON se.id = rs.sensor_id
        CROSS JOIN LATERAL (
            SELECT c.ts FROM capture c
            WHERE c.room_id = rs.room_id AND c.sensor_id = rs.sensor_id AND c.ts <= :at
            ORDER BY c.ts DESC LIMIT 1
        ) AS l
        WHERE r.building_id IN ({_RULE_BUILDINGS}) AND se.sensor_type_id IN ({_SILENT_TYPES})
          AND (rs.room_id, se.sensor_type_id) NOT IN (
              SELECT room_id, sensor_type_id FROM recent)
        GROUP BY rs.room_id, se.sensor_type_id
    ),""",  # noqa: S608 - fixed fragments; values are bound
        """
    m AS (
        SELECT p.rule_id, p.room_id, 0 AS n,
               CAST(EXTRACT(EPOCH FROM CAST(:at AS timestamptz) - f.ts) AS double precision)
                   AS value,
               q.s AS silent, q.s AS hit
        FROM p LEFT JOIN f ON f.room_id = p.room_id AND f.sensor_type_id = p.sensor_type_id
        CROSS JOIN LATERAL (
            SELECT COALESCE(f.ts, p.created_at)
                   <= CAST(:at AS timestamptz) - make_interval(secs => p.silent_seconds) AS s
        ) AS q
    ),""",
    )
)


async def observe(conn: AsyncConnection, kind: str, at: datetime) -> list[Observed]:
    """The round's pairs of one rule kind: one statement over all its rules and rooms."""
    statement = SILENT if kind == "silent" else MEAN
    rows = await driver.fetch_all_binary(
        conn, statement, {"kind": kind, "at": at}, name=f"alerts_observe_{kind}"
    )
    return [Observed(*row) for row in rows]


async def count_pairs(conn: AsyncConnection) -> int:
    """(rule, room) pairs of the enabled rules (the round's size, for the record)."""
    n: int = (
        await conn.scalar(
            text(
                "SELECT COUNT(*) FROM alert_rule ru JOIN room r ON r.building_id = ru.building_id "
                "AND (ru.room_id IS NULL OR r.id = ru.room_id) WHERE ru.enabled"
            )
        )
        or 0
    )
    return n


def _arrays(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    """Column arrays of `rows`: a batch travels as one array per column (one statement with
    unnest, not one execution per row), in the binary format (db/driver.py says why)."""
    return {n: [r[n] for r in rows] for n in names}


_INSERT_ALERTS = text(
    """
    INSERT INTO alert (rule_id, room_id, state, started_at, fired_at, value, updated_at)
    SELECT u.rule_id, u.room_id, u.state, u.started_at, u.fired_at, u.value, :at
    FROM unnest(CAST(:rule_id AS integer[]), CAST(:room_id AS integer[]), CAST(:state AS text[]),
                CAST(:started_at AS timestamptz[]), CAST(:fired_at AS timestamptz[]),
                CAST(:value AS double precision[]))
         AS u(rule_id, room_id, state, started_at, fired_at, value)
    RETURNING id, rule_id, room_id
    """
)


async def insert_alerts(
    conn: AsyncConnection, at: datetime, rows: Sequence[dict[str, Any]]
) -> dict[tuple[int, int], int]:
    """New alerts; their ids by (rule, room). The partial unique index refuses a second open
    alert of a (rule, room), so a double evaluation cannot slip past the lock unnoticed."""
    if not rows:
        return {}
    names = ("rule_id", "room_id", "state", "started_at", "fired_at", "value")
    result = await driver.fetch_all_binary(
        conn, _INSERT_ALERTS, {"at": at, **_arrays(rows, names)}, name="alerts_insert"
    )
    return {(rule_id, room_id): id_ for id_, rule_id, room_id in result}


_UPDATE_ALERTS = text(
    """
    UPDATE alert AS a
    SET state = u.state, fired_at = u.fired_at, resolved_at = u.resolved_at,
        clearing_since = u.clearing_since, updated_at = :at
    FROM unnest(CAST(:alert_id AS bigint[]), CAST(:state AS text[]),
                CAST(:fired_at AS timestamptz[]), CAST(:resolved_at AS timestamptz[]),
                CAST(:clearing_since AS timestamptz[]))
         AS u(alert_id, state, fired_at, resolved_at, clearing_since)
    WHERE a.id = u.alert_id
    """
)


async def update_alerts(
    conn: AsyncConnection, at: datetime, rows: Sequence[dict[str, Any]]
) -> None:
    """The alerts whose state changed (their values were taken by `observe`)."""
    if rows:
        names = ("alert_id", "state", "fired_at", "resolved_at", "clearing_since")
        await driver.fetch_all_binary(
            conn, _UPDATE_ALERTS, {"at": at, **_arrays(rows, names)}, name="alerts_update"
        )


_INSERT_TRANSITIONS = text(
    """
    INSERT INTO alert_transition
        (alert_id, from_state, to_state, at, value, window_start, window_end, reason)
    SELECT u.alert_id, u.from_state, u.to_state, :at, u.value, u.window_start, u.window_end,
           u.reason
    FROM unnest(CAST(:alert_id AS bigint[]), CAST(:from_state AS text[]),
                CAST(:to_state AS text[]), CAST(:value AS double precision[]),
                CAST(:window_start AS timestamptz[]), CAST(:window_end AS timestamptz[]),
                CAST(:reason AS text[])) WITH ORDINALITY
         AS u(alert_id, from_state, to_state, value, window_start, window_end, reason, n)
    ORDER BY u.n  -- ids in the order of the steps (pending before firing)
    RETURNING id
    """
)


async def insert_transitions(
    conn: AsyncConnection, at: datetime, rows: Sequence[dict[str, Any]]
) -> list[int]:
    if not rows:
        return []
    names = ("alert_id", "from_state", "to_state", "value", "window_start", "window_end", "reason")
    result = await driver.fetch_all_binary(
        conn, _INSERT_TRANSITIONS, {"at": at, **_arrays(rows, names)}, name="alerts_transitions"
    )
    return [r[0] for r in result]


# One row per delivered transition (→ firing, firing → resolved) and receiver of its rule;
# idempotency key '<transition>-<receiver>'. Silenced alerts are queued too: the sender holds
# them until the silence ends and then sends the latest (delivery.py). Due from the
# transition's instant (not the database's clock), so the sender's clock decides.
_OUTBOX = text(
    """
    INSERT INTO alert_outbox (transition_id, receiver_id, idempotency_key, next_attempt_at)
    SELECT t.id, rr.receiver_id, t.id || '-' || rr.receiver_id, t.at
    FROM alert_transition t
    JOIN alert a ON a.id = t.alert_id
    JOIN alert_rule_receiver rr ON rr.rule_id = a.rule_id
    WHERE t.id = ANY(CAST(:ids AS bigint[]))
      AND (t.to_state = 'firing' OR t.from_state = 'firing')
    """
)


async def insert_outbox(conn: AsyncConnection, transition_ids: Sequence[int]) -> int:
    if not transition_ids:
        return 0
    literal = "{" + ",".join(map(str, transition_ids)) + "}"
    result = await conn.execute(_OUTBOX, {"ids": literal})
    return result.rowcount
