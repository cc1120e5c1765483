"""HTTP endpoints of the deletes and of their audit (admin scope, docs/data-lifecycle.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from roomtemp.api import API_PREFIX
from roomtemp.api.auth import EVERY_BUILDING_ONLY, AuthFirstRoute
from roomtemp.api.deps import DEFAULT_PAGE, Cursor, Limit, Now, PathKey, ReadConnection, Transaction
from roomtemp.api.responses import json_response
from roomtemp.deletion import service
from roomtemp.deletion.schemas import DeletionOut, DeletionPage
from roomtemp.keys import KEY_MAX_LENGTH
from roomtemp.timefmt import TIMESTAMP_HELP, TIMESTAMP_PATTERN, parse_time

router = APIRouter(prefix=API_PREFIX, tags=["deletes"], route_class=AuthFirstRoute)

CapturesParam = Annotated[
    Literal["delete"] | None,
    Query(
        description="`delete`: delete its captures too (rollups follow). Without it, one with "
        "captures is refused (409 has_captures); export first to keep a copy"
    ),
]
_ENTITY: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown (a retry after a success gets this: it is gone)"},
    409: {
        "description": "has_captures: it has captures (add ?captures=delete); has_sensors: "
        "registered sensors are or were in it (delete them first); has_alert_rules: alert "
        "rules name it (delete them first)"
    },
}


def _token(request: Request) -> str | None:
    """Who asks: the token's public id; None when AUTH_REQUIRED is off (audited "anonymous")."""
    principal = getattr(request.state, "principal", None)
    return None if principal is None else str(principal.public_id)


def _time(text: str | None, field: str) -> Any:
    return None if text is None else parse_time(text, field)


def _time_param(description: str, alias: str | None = None) -> Any:
    return Query(
        alias=alias,
        max_length=64,
        description=f"{description}; {TIMESTAMP_HELP}",
        json_schema_extra={"pattern": TIMESTAMP_PATTERN},
    )


@router.delete("/buildings/{building}", responses=_ENTITY, response_model=DeletionOut)
async def delete_building(
    building: PathKey, request: Request, conn: Transaction, now: Now, captures: CapturesParam = None
) -> Response:
    """Delete a building with its rooms (their default sensors and alerts go too). Refused
    while it has captures unless ?captures=delete, and while registered sensors or alert rules
    use it. Answers the audit entry; a retry answers 404 (the key names nothing any more)."""
    entry = await service.delete_building(
        conn, building, captures or "refuse", token=_token(request), now=now
    )
    return json_response(DeletionOut.of(entry))


@router.delete("/buildings/{building}/rooms/{room}", responses=_ENTITY, response_model=DeletionOut)
async def delete_room(
    building: PathKey,
    room: PathKey,
    request: Request,
    conn: Transaction,
    now: Now,
    captures: CapturesParam = None,
) -> Response:
    """Delete a room (its default sensors and alerts go too). Refused while it has captures
    unless ?captures=delete, and while registered sensors or alert rules use it. A retry
    answers 404."""
    entry = await service.delete_room(
        conn, building, room, captures or "refuse", token=_token(request), now=now
    )
    return json_response(DeletionOut.of(entry))


@router.delete(
    "/sensor-types/{key}",
    dependencies=[EVERY_BUILDING_ONLY],  # a type is every building's
    responses={
        404: {"description": "Unknown sensor type"},
        409: {"description": "sensor_type_in_use: captures, registered sensors or alert rules"},
    },
    response_model=DeletionOut,
)
async def delete_sensor_type(
    key: PathKey, request: Request, conn: Transaction, now: Now
) -> Response:
    """Delete a sensor type nothing uses (no capture, registered sensor or alert rule). A
    retry answers 404."""
    entry = await service.delete_sensor_type(conn, key, token=_token(request), now=now)
    return json_response(DeletionOut.of(entry))


@router.delete(
    "/buildings/{building}/rooms/{room}/captures",
    responses={404: {"description": "Unknown building, room or sensor"}},
    response_model=DeletionOut,
)
async def delete_captures(
    building: PathKey,
    room: PathKey,
    request: Request,
    conn: Transaction,
    now: Now,
    from_: Annotated[str, _time_param("Inclusive start", alias="from")],
    to: Annotated[str, _time_param("Exclusive end")],
    sensor: Annotated[
        str | None,
        Query(
            max_length=3 * KEY_MAX_LENGTH + 2,
            description='Only this sensor\'s captures: a device id or "{building}/{room}/{type}"',
        ),
    ] = None,
) -> Response:
    """Delete the room's captures (or one sensor's) with from <= ts < to; every rollup level
    is recomputed for the buckets they were in, in the same transaction. Idempotent: a retry
    deletes 0 rows and answers 200 (the room exists, nothing in the range is left)."""
    entry = await service.delete_captures(
        conn,
        building,
        room,
        sensor,
        parse_time(from_, "from"),
        parse_time(to, "to"),
        token=_token(request),
        now=now,
    )
    return json_response(DeletionOut.of(entry))


@router.get("/deletions", response_model=DeletionPage, dependencies=[EVERY_BUILDING_ONLY])
async def list_deletions(
    conn: ReadConnection,
    kind: Literal["building", "room", "sensor", "sensor_type", "captures"] | None = None,
    building: Annotated[str | None, Query(max_length=KEY_MAX_LENGTH)] = None,
    room: Annotated[str | None, Query(max_length=KEY_MAX_LENGTH)] = None,
    sensor: Annotated[str | None, Query(max_length=3 * KEY_MAX_LENGTH + 2)] = None,
    since: Annotated[str | None, _time_param("Deleted at or after")] = None,
    until: Annotated[str | None, _time_param("Deleted before")] = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> Response:
    """The deletion audit, newest first, one page at a time: who, when, what, how many rows.
    Admin scope: it names tokens and every building."""
    f = service.AuditFilter(
        kind, building, room, sensor, _time(since, "since"), _time(until, "until")
    )
    rows, nxt = await service.list_entries(conn, f, cursor, limit)
    return json_response(DeletionPage(items=[DeletionOut.of(r) for r in rows], next_cursor=nxt))
