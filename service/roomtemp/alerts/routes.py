"""HTTP endpoints of alert rules (read scope to read, admin to change) and receivers (admin:
their URLs can carry credentials, e.g. a Slack webhook's)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from roomtemp.alerts import service
from roomtemp.alerts.schemas import (
    ReceiverIn,
    ReceiverOut,
    ReceiverPage,
    RuleIn,
    RuleOut,
    RulePage,
)
from roomtemp.api import API_PREFIX
from roomtemp.api.auth import AuthFirstRoute, Reach
from roomtemp.api.deps import DEFAULT_PAGE, Cursor, Limit, Now, PathKey, ReadConnection, Transaction
from roomtemp.api.responses import json_response

rules_router = APIRouter(prefix=API_PREFIX, tags=["alerts"], route_class=AuthFirstRoute)
receivers_router = APIRouter(prefix=API_PREFIX, tags=["alerts"], route_class=AuthFirstRoute)
_CREATED: dict[int | str, dict[str, Any]] = {201: {"description": "Created"}}
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid rule: unknown scope or receiver, unit, schedule, fields"}
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown name"}}
_RULE = "/alert-rules/{name}"
_RECEIVER = "/alert-receivers/{name}"


@rules_router.get("/alert-rules", response_model=RulePage)
async def list_rules(
    conn: ReadConnection, reach: Reach, limit: Limit = DEFAULT_PAGE, cursor: Cursor = None
) -> Response:
    """Alert rules in name order, one page at a time."""
    rows, nxt = await service.list_rules(conn, cursor, limit, reach)
    return json_response(RulePage.of(rows, nxt))


@rules_router.get(_RULE, responses=_NOT_FOUND, response_model=RuleOut)
async def get_rule(name: PathKey, conn: ReadConnection, reach: Reach) -> Response:
    """One alert rule; thresholds in the unit it was given in."""
    return json_response(RuleOut.of(await service.get_rule(conn, name, reach)))


@rules_router.put(_RULE, responses={**_CREATED, **_INVALID}, response_model=RuleOut)
async def put_rule(
    name: PathKey, body: RuleIn, conn: Transaction, now: Now, reach: Reach
) -> Response:
    """Create (201) or replace (200) an alert rule.

    Scope: every room of `building`, or one `room`; one `sensor_type`. `above`/`below`: the
    room's rolling mean over (t - window_seconds, t] (as GET …/average) beyond `threshold`,
    given in `unit` (any unit of the sensor type) and stored in the canonical unit; `silent`: no
    capture for `silent_seconds`. Pending for `for_seconds` before firing; resolves once clear
    (past `clear_threshold`) for `clear_after_seconds`. `schedule`: working hours in the
    building's time zone. docs/alerts.md.
    """
    view, created = await service.put_rule(conn, name, body, now, reach)
    return json_response(RuleOut.of(view), status_code=201 if created else 200)


@rules_router.delete(_RULE, status_code=204, responses=_NOT_FOUND)
async def delete_rule(name: PathKey, conn: Transaction, reach: Reach) -> Response:
    """Delete an alert rule with its alerts, their history and pending notifications."""
    await service.delete_rule(conn, name, reach)
    return Response(status_code=204)


@receivers_router.get("/alert-receivers", response_model=ReceiverPage)
async def list_receivers(
    conn: ReadConnection, limit: Limit = DEFAULT_PAGE, cursor: Cursor = None
) -> Response:
    """Alert receivers in name order, one page at a time (never their secrets)."""
    rows, nxt = await service.list_receivers(conn, cursor, limit)
    return json_response(ReceiverPage.of(rows, nxt))


@receivers_router.get(_RECEIVER, responses=_NOT_FOUND, response_model=ReceiverOut)
async def get_receiver(name: PathKey, conn: ReadConnection) -> Response:
    """One alert receiver (never its secret)."""
    return json_response(ReceiverOut.of(await service.get_receiver(conn, name)))


@receivers_router.put(_RECEIVER, responses=_CREATED, response_model=ReceiverOut)
async def put_receiver(name: PathKey, body: ReceiverIn, conn: Transaction, now: Now) -> Response:
    """Create (201) or replace (200) a webhook receiver. `secret` is write-only: it signs the
    deliveries (X-Roomtemp-Signature) and is never returned or logged."""
    row, created = await service.put_receiver(conn, name, body, now)
    return json_response(ReceiverOut.of(row), status_code=201 if created else 200)


@receivers_router.delete(_RECEIVER, status_code=204, responses=_NOT_FOUND)
async def delete_receiver(name: PathKey, conn: Transaction) -> Response:
    """Delete a receiver: rules stop notifying it; its pending notifications are dropped."""
    await service.delete_receiver(conn, name)
    return Response(status_code=204)
