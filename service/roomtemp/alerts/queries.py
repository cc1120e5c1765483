"""SQL for alert rules and receivers (the evaluation round's SQL is in eval_queries.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, delete, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.db.tables import (
    alert_receiver,
    alert_rule,
    alert_rule_receiver,
    building,
    room,
    sensor_type,
)


@dataclass(frozen=True)
class RuleRow:
    """A stored rule; thresholds in the sensor type's canonical unit."""

    id: int
    name: str
    building: str
    room: str | None
    sensor_type: str
    canonical_unit: str
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


_r = alert_rule.c
_RECEIVERS = (
    select(
        func.coalesce(
            func.array_agg(aggregate_order_by(alert_receiver.c.name, alert_receiver.c.name)),
            literal_column("ARRAY[]::text[]"),
        )
    )
    .select_from(alert_rule_receiver.join(alert_receiver))
    .where(alert_rule_receiver.c.rule_id == _r.id)
    .scalar_subquery()
)
_RULES = (
    select(
        _r.id,
        _r.name,
        building.c.key,
        room.c.key,
        sensor_type.c.key,
        sensor_type.c.unit,
        _r.kind,
        _r.threshold,
        _r.unit,
        _r.clear_threshold,
        _r.window_seconds,
        _r.for_seconds,
        _r.clear_after_seconds,
        _r.silent_seconds,
        _r.schedule,
        _r.severity,
        _r.enabled,
        _RECEIVERS,
        _r.created_at,
        _r.updated_at,
    )
    .join(building, building.c.id == _r.building_id)
    .join(sensor_type, sensor_type.c.id == _r.sensor_type_id)
    .outerjoin(room, room.c.id == _r.room_id)
)


async def select_rule(conn: AsyncConnection, name: str) -> RuleRow | None:
    row = (await conn.execute(_RULES.where(_r.name == name))).one_or_none()
    return None if row is None else RuleRow(*row)


async def select_rules_page(
    conn: AsyncConnection, after: str | None, limit: int, buildings: Sequence[str] | None = None
) -> list[RuleRow]:
    """A page of rules; `buildings`: only the rules of these buildings."""
    query = _RULES.order_by(_r.name).limit(limit)
    if after is not None:
        query = query.where(_r.name > after)
    if buildings is not None:
        query = query.where(building.c.key.in_(list(buildings)))
    return [RuleRow(*row) for row in await conn.execute(query)]


async def upsert_rule(
    conn: AsyncConnection, name: str, values: dict[str, Any], now: datetime
) -> tuple[int, bool]:
    """Create or replace a rule by name; (id, created). created_at stays on a replace."""
    statement = (
        insert(alert_rule)
        .values(name=name, created_at=now, updated_at=now, **values)
        .on_conflict_do_update(index_elements=[_r.name], set_={**values, "updated_at": now})
        .returning(_r.id, literal_column("xmax = 0"))
    )
    id_, created = (await conn.execute(statement)).one()
    return id_, bool(created)


async def set_rule_receivers(
    conn: AsyncConnection, rule_id: int, receiver_ids: Sequence[int]
) -> None:
    await conn.execute(delete(alert_rule_receiver).where(alert_rule_receiver.c.rule_id == rule_id))
    if receiver_ids:
        await conn.execute(
            insert(alert_rule_receiver),
            [{"rule_id": rule_id, "receiver_id": r} for r in receiver_ids],
        )


async def delete_rule(conn: AsyncConnection, name: str) -> bool:
    result = await conn.execute(delete(alert_rule).where(_r.name == name))
    return result.rowcount > 0


@dataclass(frozen=True)
class ReceiverRow:
    id: int
    name: str
    url: str
    format: str
    has_secret: bool
    created_at: datetime
    updated_at: datetime


_c = alert_receiver.c
_RECEIVER_ROWS = select(
    _c.id, _c.name, _c.url, _c.format, _c.secret.is_not(None), _c.created_at, _c.updated_at
)


async def select_receiver(conn: AsyncConnection, name: str) -> ReceiverRow | None:
    row = (await conn.execute(_RECEIVER_ROWS.where(_c.name == name))).one_or_none()
    return None if row is None else ReceiverRow(*row)


async def select_receivers_page(
    conn: AsyncConnection, after: str | None, limit: int
) -> list[ReceiverRow]:
    query = _RECEIVER_ROWS.order_by(_c.name).limit(limit)
    if after is not None:
        query = query.where(_c.name > after)
    return [ReceiverRow(*row) for row in await conn.execute(query)]


async def receiver_ids(conn: AsyncConnection, names: Sequence[str]) -> dict[str, int]:
    rows = await conn.execute(select(_c.name, _c.id).where(_c.name.in_(list(names))))
    return {name: id_ for name, id_ in rows}


async def upsert_receiver(
    conn: AsyncConnection, name: str, url: str, format_: str, secret: str | None, now: datetime
) -> bool:
    values: dict[str, Any] = {"url": url, "format": format_, "secret": secret}
    statement = (
        insert(alert_receiver)
        .values(name=name, created_at=now, updated_at=now, **values)
        .on_conflict_do_update(index_elements=[_c.name], set_={**values, "updated_at": now})
        .returning(literal_column("xmax = 0", Boolean))
    )
    return bool((await conn.execute(statement)).scalar_one())


async def delete_receiver(conn: AsyncConnection, name: str) -> bool:
    result = await conn.execute(delete(alert_receiver).where(_c.name == name))
    return result.rowcount > 0
