"""SQL of the webhook sender: claim due outbox rows, record attempts, give up, skip."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db.tables import alert_delivery, alert_outbox


@dataclass(frozen=True)
class Due:
    """A due notification with everything its payload needs (thresholds in canonical units)."""

    outbox_id: int
    idempotency_key: str
    attempts: int
    # The receiver.
    receiver: str
    url: str
    format: str
    secret: str | None
    # The transition.
    transition_id: int
    from_state: str | None
    to_state: str
    at: datetime
    value: float | None
    window_start: datetime | None
    window_end: datetime | None
    reason: str
    # The alert, as it is now.
    alert_id: int
    state: str
    started_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    silenced_until: datetime | None
    # Its rule and place.
    rule: str
    kind: str
    severity: str
    threshold: float | None
    clear_threshold: float | None
    rule_unit: str | None
    window_seconds: int
    silent_seconds: int | None
    building: str
    room: str
    sensor_type: str
    canonical_unit: str
    # Held by a silence (now over), and a later transition of the alert is queued for the same
    # receiver: only the latest is sent (docs/alerts.md, Silences).
    superseded: bool
    # From when the age limit counts: the transition, or the end of the silence that held it.
    age_from: datetime


# FOR UPDATE OF o SKIP LOCKED: several senders (replicas) take disjoint rows; a row stays locked
# until its sender's transaction ends, so a sender that dies mid-send releases it still due.
_CLAIM = text(
    """
    SELECT o.id, o.idempotency_key, o.attempts,
           rc.name, rc.url, rc.format, rc.secret,
           t.id, t.from_state, t.to_state, t.at, t.value, t.window_start, t.window_end, t.reason,
           a.id, a.state, a.started_at, a.fired_at, a.resolved_at, a.silenced_until,
           ru.name, ru.kind, ru.severity, ru.threshold, ru.clear_threshold, ru.unit,
           ru.window_seconds, ru.silent_seconds,
           b.key, r.key, st.key, st.unit,
           (o.last_error = :held
            AND EXISTS (SELECT 1 FROM alert_outbox o2
                        JOIN alert_transition t2 ON t2.id = o2.transition_id
                        WHERE t2.alert_id = t.alert_id AND o2.receiver_id = o.receiver_id
                          AND t2.id > t.id)) AS superseded,
           CASE WHEN a.silenced_until IS NOT NULL AND a.silenced_until <= :now
                     AND t.at < a.silenced_until
                THEN a.silenced_until ELSE t.at END AS age_from
    FROM alert_outbox o
    JOIN alert_receiver rc ON rc.id = o.receiver_id
    JOIN alert_transition t ON t.id = o.transition_id
    JOIN alert a ON a.id = t.alert_id
    JOIN alert_rule ru ON ru.id = a.rule_id
    JOIN room r ON r.id = a.room_id
    JOIN building b ON b.id = r.building_id
    JOIN sensor_type st ON st.id = ru.sensor_type_id
    WHERE o.delivered_at IS NULL AND o.given_up_at IS NULL AND o.next_attempt_at <= :now
    ORDER BY o.next_attempt_at, o.id
    LIMIT :limit
    FOR UPDATE OF o SKIP LOCKED
    """
)


async def claim_due(conn: AsyncConnection, now: datetime, limit: int, held: str) -> list[Due]:
    """Lock up to `limit` due rows no other sender holds, oldest due first. `held`: the
    last_error of rows a silence held (a later transition of their alert supersedes them)."""
    result = await conn.execute(_CLAIM, {"now": now, "limit": limit, "held": held})
    return [Due(*row) for row in result]


# Rows held until a silence's end whose silence was lifted or shortened since: due now.
_RELEASE = text(
    """
    UPDATE alert_outbox o SET next_attempt_at = :now
    FROM alert_transition t JOIN alert a ON a.id = t.alert_id
    WHERE t.id = o.transition_id
      AND o.delivered_at IS NULL AND o.given_up_at IS NULL AND o.next_attempt_at > :now
      AND o.last_error = :held
      AND (a.silenced_until IS NULL OR a.silenced_until < o.next_attempt_at)
    """
)


async def release_held(conn: AsyncConnection, now: datetime, held: str) -> int:
    result = await conn.execute(_RELEASE, {"now": now, "held": held})
    return result.rowcount


_UPDATE = (
    update(alert_outbox)
    .where(alert_outbox.c.id == bindparam("outbox_id"))
    .values(
        attempts=alert_outbox.c.attempts + bindparam("attempted"),
        next_attempt_at=bindparam("next_attempt_at"),
        delivered_at=bindparam("delivered_at"),
        given_up_at=bindparam("given_up_at"),
        last_error=bindparam("last_error"),
    )
)


async def update_outbox(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Each row: outbox_id, attempted (0 or 1), next_attempt_at, delivered_at, given_up_at,
    last_error."""
    if rows:
        await conn.execute(_UPDATE, list(rows))


async def insert_deliveries(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """The delivery log: outbox_id, attempted_at, status, error, duration_ms."""
    if rows:
        await conn.execute(insert(alert_delivery), list(rows))


async def count_pending(conn: AsyncConnection) -> int:
    """Notifications neither delivered nor given up (the outbox-pending gauge)."""
    result = await conn.execute(
        text("SELECT count(*) FROM alert_outbox WHERE delivered_at IS NULL AND given_up_at IS NULL")
    )
    return int(result.scalar_one())
