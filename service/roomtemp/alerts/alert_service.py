"""Seeing alerts: list and show them (values in the rule's unit), acknowledge and silence them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp import units
from roomtemp.alerts import alert_queries as q
from roomtemp.alerts.alert_queries import AlertFilter, DeliveryRow, TransitionRow
from roomtemp.errors import Conflict, ErrorDetail, Forbidden, InvalidInput, NotFound
from roomtemp.pagination import decode_int_cursor, encode_cursor
from roomtemp.tenancy import BuildingScope
from roomtemp.timefmt import parse_duration

__all__ = ["AlertFilter", "AlertView", "Delivery", "Snapshot"]

#: The longest silence: past it, change the rule (or disable it) instead.
MAX_SILENCE = timedelta(days=30)
_MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class AlertView:
    """An alert as the API shows it: value and threshold in the rule's unit."""

    id: int
    rule: str
    building: str
    room: str
    sensor_type: str
    kind: str
    severity: str
    state: str
    started_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    value: float | None
    threshold: float | None
    unit: str | None
    acked_at: datetime | None
    acked_by: str | None
    silenced_until: datetime | None
    silenced: bool
    updated_at: datetime
    transitions: list[TransitionRow] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)


@dataclass(frozen=True)
class Attempt:
    attempted_at: datetime
    status: int | None
    error: str | None
    duration_ms: float


@dataclass(frozen=True)
class Delivery:
    transition_id: int
    receiver: str
    idempotency_key: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    given_up_at: datetime | None
    last_error: str | None
    log: list[Attempt]


def _shown(value: float | None, row: q.AlertRow) -> float | None:
    if value is None or row.unit is None:
        return value
    return units.convert(value, row.canonical_unit, row.unit)


def _view(row: q.AlertRow, now: datetime) -> AlertView:
    return AlertView(
        id=row.id,
        rule=row.rule,
        building=row.building,
        room=row.room,
        sensor_type=row.sensor_type,
        kind=row.kind,
        severity=row.severity,
        state=row.state,
        started_at=row.started_at,
        fired_at=row.fired_at,
        resolved_at=row.resolved_at,
        value=_shown(row.value, row),
        threshold=_shown(row.threshold, row),
        unit=row.unit,
        acked_at=row.acked_at,
        acked_by=row.acked_by,
        silenced_until=row.silenced_until,
        silenced=row.silenced_until is not None and row.silenced_until > now,
        updated_at=row.updated_at,
    )


async def list_alerts(
    conn: AsyncConnection, where: AlertFilter, cursor: str | None, limit: int, now: datetime
) -> tuple[list[AlertView], str | None]:
    """Alerts newest first, filtered; the cursor carries the last id shown."""
    before = decode_int_cursor(cursor, 1, _MAX_ID)
    rows = await q.select_alerts_page(conn, where, before, limit)
    nxt = encode_cursor(str(rows[-1].id)) if len(rows) == limit and rows else None
    return [_view(r, now) for r in rows], nxt


def _deliveries(rows: list[DeliveryRow]) -> list[Delivery]:
    out: dict[int, Delivery] = {}
    for r in rows:
        d = out.setdefault(
            r.outbox_id,
            Delivery(
                r.transition_id,
                r.receiver,
                r.idempotency_key,
                r.attempts,
                r.next_attempt_at,
                r.delivered_at,
                r.given_up_at,
                r.last_error,
                [],
            ),
        )
        if r.attempted_at is not None and r.duration_ms is not None:
            d.log.append(Attempt(r.attempted_at, r.status, r.error, r.duration_ms))
    return list(out.values())


async def check_reach(
    conn: AsyncConnection, alert_id: int, reach: BuildingScope, *, write: bool
) -> None:
    """An alert in a building outside `reach`: a read answers as for one that does not exist,
    a write (ack, silence) is Forbidden."""
    if reach.unlimited:
        return
    row = await q.select_alert(conn, alert_id)
    if row is None or reach.allows(row.building):
        return
    if write:
        raise Forbidden(f"alert {alert_id} is in a building this token may not write to")
    raise NotFound(f"alert {alert_id} does not exist")


async def get_alert(conn: AsyncConnection, alert_id: int, now: datetime) -> AlertView:
    """One alert with its transitions and its delivery log."""
    row = await q.select_alert(conn, alert_id)
    if row is None:
        raise NotFound(f"alert {alert_id} does not exist")
    transitions = [
        replace(t, value=_shown(t.value, row)) for t in await q.select_transitions(conn, alert_id)
    ]
    deliveries = _deliveries(await q.select_deliveries(conn, alert_id))
    return replace(_view(row, now), transitions=transitions, deliveries=deliveries)


async def _open_alert(conn: AsyncConnection, alert_id: int, action: str) -> None:
    state = await q.lock_alert_state(conn, alert_id)
    if state is None:
        raise NotFound(f"alert {alert_id} does not exist")
    if state == "resolved":
        raise Conflict(f"alert {alert_id} is resolved; only an open alert can be {action}")


async def ack(conn: AsyncConnection, alert_id: int, by: str, now: datetime) -> AlertView:
    """Acknowledge an open alert (the first acknowledgement stands)."""
    await _open_alert(conn, alert_id, "acknowledged")
    await q.set_ack(conn, alert_id, now, by)
    return await get_alert(conn, alert_id, now)


def silence_end(now: datetime, until: datetime | None, for_: str | None) -> datetime:
    """The instant a silence ends, from `until` or `for` (InvalidInput when out of range)."""
    if for_ is not None:
        try:
            end = now + parse_duration(for_)
        except ValueError as exc:
            raise InvalidInput(str(exc), [ErrorDetail(str(exc), field="for")]) from None
        name = "for"
    else:
        assert until is not None  # the schema requires one of the two
        end, name = until, "until"
    if end <= now:
        message = "a silence must end in the future"
        raise InvalidInput(message, [ErrorDetail(message, field=name)])
    if end - now > MAX_SILENCE:
        message = "a silence lasts at most 30 days; change or disable the rule instead"
        raise InvalidInput(message, [ErrorDetail(message, field=name)])
    return end


async def silence(
    conn: AsyncConnection, alert_id: int, until: datetime, now: datetime
) -> AlertView:
    """Silence an open alert until `until`: its transitions are recorded, not delivered."""
    await _open_alert(conn, alert_id, "silenced")
    await q.set_silence(conn, alert_id, until, now)
    return await get_alert(conn, alert_id, now)


async def unsilence(conn: AsyncConnection, alert_id: int, now: datetime) -> AlertView:
    """Lift an alert's silence (a resolved alert too: it changes nothing that was delivered)."""
    if await q.lock_alert_state(conn, alert_id) is None:
        raise NotFound(f"alert {alert_id} does not exist")
    await q.set_silence(conn, alert_id, None, now)
    return await get_alert(conn, alert_id, now)


@dataclass(frozen=True)
class Snapshot:
    """What the alerts process's gauges show, read in one go."""

    buildings: list[str]
    open_counts: list[tuple[str, str, str, int]]  # (building, severity, state, count)
    outbox_pending: int
    last_evaluation: datetime | None


async def snapshot(conn: AsyncConnection) -> Snapshot:
    return Snapshot(
        await q.select_building_keys(conn),
        await q.count_open_alerts(conn),
        await q.count_outbox_pending(conn),
        await q.last_evaluation_at(conn),
    )
