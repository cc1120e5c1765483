"""HTTP endpoints for seeing alerts: list, show, acknowledge, silence (docs/alerts.md).

GETs need the read scope; ack and silence change what gets delivered, so they need admin."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from roomtemp.alerts import alert_service as service
from roomtemp.alerts.alert_schemas import (
    AlertDetail,
    AlertOut,
    AlertPage,
    SilenceIn,
    State,
)
from roomtemp.api import API_PREFIX
from roomtemp.api.auth import AuthFirstRoute, Reach
from roomtemp.api.deps import DEFAULT_PAGE, Cursor, Limit, Now, ReadConnection, Transaction
from roomtemp.api.responses import json_response
from roomtemp.keys import KEY_MAX_LENGTH, KEY_PATTERN

router = APIRouter(prefix=API_PREFIX, tags=["alerts"], route_class=AuthFirstRoute)

AlertId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The alert's id")]
KeyFilter = Annotated[
    str | None, Query(min_length=1, max_length=KEY_MAX_LENGTH, pattern=KEY_PATTERN)
]
_UNKNOWN: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown alert"}}
_CHANGE: dict[int | str, dict[str, Any]] = {
    **_UNKNOWN,
    409: {"description": "The alert is resolved"},
}
#: Who acknowledged, when the API runs without tokens (AUTH_REQUIRED=false).
ANONYMOUS = "anonymous"


def _detail(view: service.AlertView) -> Response:
    return json_response(AlertDetail.model_validate(view))


@router.get("/alerts", response_model=AlertPage)
async def list_alerts(
    conn: ReadConnection,
    now: Now,
    reach: Reach,
    state: State | None = None,
    building: KeyFilter = None,
    room: KeyFilter = None,
    severity: Literal["info", "warning", "critical"] | None = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> Response:
    """Alerts, newest first, one page at a time: `state=firing` for what is wrong now.

    `room` is a room key (combine it with `building` to name one room)."""
    where = service.AlertFilter(state, building, room, severity, reach.sql_keys())
    views, nxt = await service.list_alerts(conn, where, cursor, limit, now)
    page = AlertPage(items=[AlertOut.model_validate(v) for v in views], next_cursor=nxt)
    return json_response(page)


@router.get("/alerts/{alert_id}", responses=_UNKNOWN, response_model=AlertDetail)
async def get_alert(alert_id: AlertId, conn: ReadConnection, now: Now, reach: Reach) -> Response:
    """One alert with its state transitions and its delivery log (every attempt)."""
    await service.check_reach(conn, alert_id, reach, write=False)
    return _detail(await service.get_alert(conn, alert_id, now))


@router.post("/alerts/{alert_id}/ack", responses=_CHANGE, response_model=AlertDetail)
async def ack_alert(
    alert_id: AlertId, request: Request, conn: Transaction, now: Now, reach: Reach
) -> Response:
    """Acknowledge an open alert: `acked_by` is the token's name. Acknowledging again keeps
    the first acknowledgement. Notifications go on (silence stops them)."""
    await service.check_reach(conn, alert_id, reach, write=True)
    principal = getattr(request.state, "principal", None)
    by = principal.name if principal is not None else ANONYMOUS
    return _detail(await service.ack(conn, alert_id, by, now))


@router.post("/alerts/{alert_id}/silence", responses=_CHANGE, response_model=AlertDetail)
async def silence_alert(
    alert_id: AlertId, body: SilenceIn, conn: Transaction, now: Now, reach: Reach
) -> Response:
    """Silence an open alert `{"until": ts}` or `{"for": "2h"}` (at most 30 days): its
    transitions are still recorded, but not delivered while it is silenced."""
    await service.check_reach(conn, alert_id, reach, write=True)
    until = service.silence_end(now, body.until, body.for_)
    return _detail(await service.silence(conn, alert_id, until, now))


@router.delete("/alerts/{alert_id}/silence", responses=_UNKNOWN, response_model=AlertDetail)
async def unsilence_alert(alert_id: AlertId, conn: Transaction, now: Now, reach: Reach) -> Response:
    """Lift an alert's silence: its next transitions are delivered again."""
    await service.check_reach(conn, alert_id, reach, write=True)
    return _detail(await service.unsilence(conn, alert_id, now))
