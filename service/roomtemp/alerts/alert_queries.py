"""SQL for seeing alerts: the list, one alert with its transitions and delivery log, ack and
silence, and the per-building counts behind the roomtemp_alerts gauge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db.tables import (
    alert,
    alert_delivery,
    alert_evaluation,
    alert_outbox,
    alert_receiver,
    alert_rule,
    alert_transition,
    building,
    room,
    sensor_type,
)

_a = alert.c


@dataclass(frozen=True)
class AlertRow:
    """An alert with its rule's labels; value and thresholds in the canonical unit."""

    id: int
    rule: str
    building: str
    room: str
    sensor_type: str
    canonical_unit: str
    unit: str | None
    kind: str
    severity: str
    threshold: float | None
    state: str
    started_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    value: float | None
    acked_at: datetime | None
    acked_by: str | None
    silenced_until: datetime | None
    updated_at: datetime


_ALERTS = (
    select(
        _a.id,
        alert_rule.c.name,
        building.c.key,
        room.c.key,
        sensor_type.c.key,
        sensor_type.c.unit,
        alert_rule.c.unit,
        alert_rule.c.kind,
        alert_rule.c.severity,
        alert_rule.c.threshold,
        _a.state,
        _a.started_at,
        _a.fired_at,
        _a.resolved_at,
        _a.value,
        _a.acked_at,
        _a.acked_by,
        _a.silenced_until,
        _a.updated_at,
    )
    .join(alert_rule, alert_rule.c.id == _a.rule_id)
    .join(room, room.c.id == _a.room_id)
    .join(building, building.c.id == room.c.building_id)
    .join(sensor_type, sensor_type.c.id == alert_rule.c.sensor_type_id)
)


@dataclass(frozen=True)
class AlertFilter:
    state: str | None = None
    building: str | None = None
    room: str | None = None
    severity: str | None = None
    #: Only alerts in these buildings (a token limited to buildings); None: all.
    buildings: Sequence[str] | None = None


async def select_alerts_page(
    conn: AsyncConnection, where: AlertFilter, before_id: int | None, limit: int
) -> list[AlertRow]:
    """Newest first (ids grow with the instant an alert started), `limit` after the cursor."""
    query = _ALERTS.order_by(_a.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(_a.id < before_id)
    if where.state is not None:
        query = query.where(_a.state == where.state)
    if where.building is not None:
        query = query.where(building.c.key == where.building)
    if where.buildings is not None:
        query = query.where(building.c.key.in_(list(where.buildings)))
    if where.room is not None:
        query = query.where(room.c.key == where.room)
    if where.severity is not None:
        query = query.where(alert_rule.c.severity == where.severity)
    return [AlertRow(*row) for row in await conn.execute(query)]


async def select_alert(conn: AsyncConnection, alert_id: int) -> AlertRow | None:
    row = (await conn.execute(_ALERTS.where(_a.id == alert_id))).one_or_none()
    return None if row is None else AlertRow(*row)


@dataclass(frozen=True)
class TransitionRow:
    id: int
    from_state: str | None
    to_state: str
    at: datetime
    value: float | None
    window_start: datetime | None
    window_end: datetime | None
    reason: str


async def select_transitions(conn: AsyncConnection, alert_id: int) -> list[TransitionRow]:
    t = alert_transition.c
    query = (
        select(
            t.id, t.from_state, t.to_state, t.at, t.value, t.window_start, t.window_end, t.reason
        )
        .where(t.alert_id == alert_id)
        .order_by(t.id)
    )
    return [TransitionRow(*row) for row in await conn.execute(query)]


@dataclass(frozen=True)
class DeliveryRow:
    """One outbox row (a transition for a receiver) with one of its attempts, if any."""

    outbox_id: int
    transition_id: int
    receiver: str
    idempotency_key: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    given_up_at: datetime | None
    last_error: str | None
    attempted_at: datetime | None
    status: int | None
    error: str | None
    duration_ms: float | None


async def select_deliveries(conn: AsyncConnection, alert_id: int) -> list[DeliveryRow]:
    o, d = alert_outbox.c, alert_delivery.c
    query = (
        select(
            o.id,
            o.transition_id,
            alert_receiver.c.name,
            o.idempotency_key,
            o.attempts,
            o.next_attempt_at,
            o.delivered_at,
            o.given_up_at,
            o.last_error,
            d.attempted_at,
            d.status,
            d.error,
            d.duration_ms,
        )
        .select_from(
            alert_outbox.join(alert_transition, alert_transition.c.id == o.transition_id)
            .join(alert_receiver, alert_receiver.c.id == o.receiver_id)
            .outerjoin(alert_delivery, d.outbox_id == o.id)
        )
        .where(alert_transition.c.alert_id == alert_id)
        .order_by(o.id, d.id)
    )
    return [DeliveryRow(*row) for row in await conn.execute(query)]


async def set_ack(conn: AsyncConnection, alert_id: int, at: datetime, by: str) -> None:
    """The first acknowledgement stands; acking again changes nothing."""
    await conn.execute(
        update(alert)
        .where(_a.id == alert_id, _a.acked_at.is_(None))
        .values(acked_at=at, acked_by=by, updated_at=at)
    )


async def set_silence(
    conn: AsyncConnection, alert_id: int, until: datetime | None, at: datetime
) -> None:
    await conn.execute(
        update(alert).where(_a.id == alert_id).values(silenced_until=until, updated_at=at)
    )


async def lock_alert_state(conn: AsyncConnection, alert_id: int) -> str | None:
    """The alert's state, its row locked until the transaction ends (an evaluation round that
    resolves it meanwhile waits, so ack/silence never land on a state they did not check)."""
    query = select(_a.state).where(_a.id == alert_id).with_for_update()
    state: str | None = (await conn.execute(query)).scalar_one_or_none()
    return state


async def count_open_alerts(conn: AsyncConnection) -> list[tuple[str, str, str, int]]:
    """(building, severity, state, count) of the pending and firing alerts: a bounded set
    (buildings x 3 x 2), read by the worker's metrics; resolved ones are history, not state."""
    query = (
        select(building.c.key, alert_rule.c.severity, _a.state, func.count())
        .select_from(
            alert.join(alert_rule, alert_rule.c.id == _a.rule_id)
            .join(room, room.c.id == _a.room_id)
            .join(building, building.c.id == room.c.building_id)
        )
        .where(_a.state != "resolved")
        .group_by(building.c.key, alert_rule.c.severity, _a.state)
    )
    return [(b, s, st, int(n)) for b, s, st, n in await conn.execute(query)]


async def select_building_keys(conn: AsyncConnection) -> list[str]:
    return list((await conn.execute(select(building.c.key).order_by(building.c.key))).scalars())


async def count_outbox_pending(conn: AsyncConnection) -> int:
    o = alert_outbox.c
    query = select(func.count()).where(and_(o.delivered_at.is_(None), o.given_up_at.is_(None)))
    return int((await conn.execute(query)).scalar_one())


async def last_evaluation_at(conn: AsyncConnection) -> datetime | None:
    at: datetime | None = (
        await conn.execute(select(func.max(alert_evaluation.c.at)))
    ).scalar_one_or_none()
    return at
