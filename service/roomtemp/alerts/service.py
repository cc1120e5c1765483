"""Alert rules and receivers: validation against the registry, units, and storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp import units
from roomtemp.alerts import queries
from roomtemp.alerts.queries import ReceiverRow, RuleRow
from roomtemp.alerts.schedule import parse_schedule, schedule_json
from roomtemp.alerts.schemas import ReceiverIn, RuleIn
from roomtemp.errors import ErrorDetail, Forbidden, InvalidInput, NotFound
from roomtemp.pagination import decode_key_cursor, next_cursor
from roomtemp.registry import service as registry
from roomtemp.tenancy import EVERY_BUILDING, BuildingScope

__all__ = ["ReceiverRow", "RuleRow", "RuleView"]


@dataclass(frozen=True)
class RuleView:
    """A rule as the API and CLI show it: thresholds in the unit the rule was given in."""

    name: str
    building: str
    room: str | None
    sensor_type: str
    kind: str
    threshold: float | None
    unit: str | None
    clear_threshold: float | None
    window_seconds: int
    for_seconds: int
    clear_after_seconds: int
    silent_seconds: int | None
    schedule: dict[str, Any] | None
    severity: str
    enabled: bool
    receivers: list[str]
    created_at: datetime
    updated_at: datetime


def _view(row: RuleRow) -> RuleView:
    unit = row.unit or row.canonical_unit

    def shown(value: float | None) -> float | None:
        return None if value is None else units.convert(value, row.canonical_unit, unit)

    return RuleView(
        name=row.name,
        building=row.building,
        room=row.room,
        sensor_type=row.sensor_type,
        kind=row.kind,
        threshold=shown(row.threshold),
        unit=row.unit if row.kind == "silent" else unit,
        clear_threshold=shown(row.clear_threshold),
        window_seconds=row.window_seconds,
        for_seconds=row.for_seconds,
        clear_after_seconds=row.clear_after_seconds,
        silent_seconds=row.silent_seconds,
        schedule=row.schedule,
        severity=row.severity,
        enabled=row.enabled,
        receivers=row.receivers,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _invalid(message: str, field: str) -> InvalidInput:
    return InvalidInput(message, [ErrorDetail(message, field=field)])


def _canonical(value: float | None, unit: str, canonical: str, field: str) -> float | None:
    """A threshold in the sensor type's unit, converted as ingest converts values."""
    if value is None:
        return None
    try:
        return units.convert(value, unit, canonical)
    except units.UnitError:
        temperature = canonical in units.TEMPERATURE_UNITS
        allowed = ", ".join(units.TEMPERATURE_UNITS) if temperature else canonical
        message = f"unit {unit!r} cannot be used here; use one of: {allowed}"
        raise _invalid(message, "unit") from None


async def _scope(conn: AsyncConnection, body: RuleIn) -> dict[str, Any]:
    """building_id, room_id and sensor_type_id of the scope, which must exist (422)."""
    try:
        b = await registry.get_building(conn, body.building)
        room_id = None
        if body.room is not None:
            room_id = (await registry.get_room(conn, body.building, body.room)).id
    except NotFound as exc:
        raise _invalid(str(exc), "room" if body.room is not None else "building") from None
    st = await registry.sensor_type_for_query(conn, body.sensor_type)
    unit = st.unit if body.unit is None else units.normalise(body.unit)
    return {
        "building_id": b.id,
        "room_id": room_id,
        "sensor_type_id": st.id,
        "threshold": _canonical(body.threshold, unit, st.unit, "threshold"),
        "clear_threshold": _canonical(body.clear_threshold, unit, st.unit, "clear_threshold"),
        "unit": None if body.kind == "silent" else unit,
    }


def _schedule(body: RuleIn) -> dict[str, Any] | None:
    if body.schedule is None:
        return None
    try:
        return schedule_json(parse_schedule(body.schedule.model_dump(by_alias=True)))
    except ValueError as exc:
        raise _invalid(str(exc), "schedule") from None


async def _receiver_ids(conn: AsyncConnection, names: list[str]) -> list[int]:
    found = await queries.receiver_ids(conn, names)
    missing = [n for n in names if n not in found]
    if missing:
        raise _invalid(f"unknown receiver(s): {', '.join(missing)}", "receivers")
    return [found[n] for n in names]


async def _check_rule_write(
    conn: AsyncConnection, name: str, reach: BuildingScope, building: str | None = None
) -> None:
    """Forbidden unless `reach` covers `building` and the existing rule `name`'s building."""
    if reach.unlimited:
        return
    if building is not None:
        reach.check_write([building])
    row = await queries.select_rule(conn, name)
    if row is not None and not reach.allows(row.building):
        raise Forbidden(f"alert rule {name!r} is in a building this token may not write to")


async def put_rule(
    conn: AsyncConnection,
    name: str,
    body: RuleIn,
    now: datetime,
    reach: BuildingScope = EVERY_BUILDING,
) -> tuple[RuleView, bool]:
    """Create (True) or replace (False) the rule `name`."""
    await _check_rule_write(conn, name, reach, body.building)
    values = {
        **await _scope(conn, body),
        "kind": body.kind,
        "window_seconds": body.window_seconds,
        "for_seconds": body.for_seconds,
        "clear_after_seconds": body.clear_after_seconds,
        "silent_seconds": body.silent_seconds,
        "schedule": _schedule(body),
        "severity": body.severity,
        "enabled": body.enabled,
    }
    receiver_ids = await _receiver_ids(conn, body.receivers)
    rule_id, created = await queries.upsert_rule(conn, name, values, now)
    await queries.set_rule_receivers(conn, rule_id, receiver_ids)
    return await get_rule(conn, name), created


async def get_rule(
    conn: AsyncConnection, name: str, reach: BuildingScope = EVERY_BUILDING
) -> RuleView:
    """A rule; one in a building outside `reach` answers as one that does not exist."""
    row = await queries.select_rule(conn, name)
    if row is None or not reach.allows(row.building):
        raise NotFound(f"alert rule {name!r} does not exist")
    return _view(row)


async def list_rules(
    conn: AsyncConnection,
    cursor: str | None,
    limit: int,
    reach: BuildingScope = EVERY_BUILDING,
) -> tuple[list[RuleView], str | None]:
    rows = await queries.select_rules_page(conn, decode_key_cursor(cursor), limit, reach.sql_keys())
    return [_view(r) for r in rows], next_cursor([r.name for r in rows], limit)


async def delete_rule(
    conn: AsyncConnection, name: str, reach: BuildingScope = EVERY_BUILDING
) -> None:
    """Delete a rule with its alerts, their transitions and pending deliveries."""
    await _check_rule_write(conn, name, reach)
    if not await queries.delete_rule(conn, name):
        raise NotFound(f"alert rule {name!r} does not exist")


async def put_receiver(
    conn: AsyncConnection, name: str, body: ReceiverIn, now: datetime
) -> tuple[ReceiverRow, bool]:
    created = await queries.upsert_receiver(conn, name, body.url, body.format, body.secret, now)
    return await get_receiver(conn, name), created


async def get_receiver(conn: AsyncConnection, name: str) -> ReceiverRow:
    row = await queries.select_receiver(conn, name)
    if row is None:
        raise NotFound(f"alert receiver {name!r} does not exist")
    return row


async def list_receivers(
    conn: AsyncConnection, cursor: str | None, limit: int
) -> tuple[list[ReceiverRow], str | None]:
    rows = await queries.select_receivers_page(conn, decode_key_cursor(cursor), limit)
    return rows, next_cursor([r.name for r in rows], limit)


async def delete_receiver(conn: AsyncConnection, name: str) -> None:
    """Delete a receiver; rules stop notifying it and its pending deliveries are dropped."""
    if not await queries.delete_receiver(conn, name):
        raise NotFound(f"alert receiver {name!r} does not exist")
