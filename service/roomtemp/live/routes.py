"""HTTP endpoints of live updates: Server-Sent Events streams of a building or of one room."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.types import Receive, Scope, Send

from roomtemp.api import API_PREFIX
from roomtemp.api.auth import AuthFirstRoute
from roomtemp.api.deps import PathKey, ReadConnection, State
from roomtemp.api.state import AppState
from roomtemp.errors import NotConfigured, ServiceUnavailable
from roomtemp.keys import KEY_MAX_LENGTH, KEY_PATTERN
from roomtemp.live import service
from roomtemp.live.hub import Close, Hub, Subscriber
from roomtemp.obs.metrics import Metrics

router = APIRouter(prefix=API_PREFIX, tags=["live"], route_class=AuthFirstRoute)

_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "text/event-stream: `reset` (the scope's averages now), then `average` "
        "(a room's new 15-minute window), `capture` (with captures=true); ends with "
        "`dropped`, `unavailable` or `shutdown` (docs/live.md)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    404: {"description": "Unknown building or room"},
    503: {"description": "LIVE_MAX_STREAMS reached or live updates interrupted; Retry-After"},
}
OptionalSensorType = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=KEY_MAX_LENGTH,
        pattern=KEY_PATTERN,
        description="Only this sensor type; default every type",
    ),
]
UnitParam = Annotated[
    str | None,
    Query(
        max_length=32,
        description="kelvin, celsius or fahrenheit (for the temperature types); default each "
        "type's canonical unit",
    ),
]
CapturesParam = Annotated[bool, Query(description="Also send each new capture")]
LastEventId = Annotated[
    str | None,
    Header(max_length=32, description="Resume after this event id (EventSource sends it)"),
]


class EventStream(Response):
    """A text/event-stream answer fed by the hub; ends when the client goes or the hub ends it.

    Not Starlette's StreamingResponse: this one watches for the client's disconnect itself
    whatever the server's ASGI version, sends a heartbeat comment when idle, and always leaves
    the hub and the gauge in the `finally`.
    """

    media_type = "text/event-stream"

    def __init__(
        self, hub: Hub, sub: Subscriber, first: bytes, heartbeat: float, metrics: Metrics
    ) -> None:
        self.status_code = 200
        self.background = None
        self.hub, self.sub, self.first = hub, sub, first
        self.heartbeat, self.metrics = heartbeat, metrics
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.metrics.live_streams.inc()
        writer = asyncio.ensure_future(self._write(send))
        watcher = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait((writer, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (writer, watcher):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await task
            self.hub.unsubscribe(self.sub)
            self.metrics.live_streams.dec()

    async def _write(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        retry = f"retry: {self.hub.settings.retry_ms}\n\n".encode()
        await send({"type": "http.response.body", "body": retry + self.first, "more_body": True})
        while True:
            try:
                item = await asyncio.wait_for(self.sub.queue.get(), self.heartbeat)
            except TimeoutError:
                # A comment keeps proxies from timing out; the id moves past events not in scope.
                seq = self.sub.last_seq
                item = (f"id: {seq}\n" if seq is not None else "").encode() + b": ping\n\n"
            if isinstance(item, Close):
                await send({"type": "http.response.body", "body": item.chunk, "more_body": False})
                return
            await send({"type": "http.response.body", "body": item, "more_body": True})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _open(
    state: AppState,
    conn: AsyncConnection,
    building: str,
    room: str | None,
    sensor_type: str | None,
    unit: str | None,
    captures: bool,
    last_event_id: str | None,
) -> Response:
    settings = state.settings
    hub: Hub | None = state.live
    if hub is None:
        raise NotConfigured("live updates are off on this server (LIVE_ENABLED=false)")
    retry = max(1, settings.live_retry_ms // 1000)
    if not hub.available:
        state.metrics.live_streams_refused.labels(reason="live_unavailable").inc()
        raise ServiceUnavailable(
            "live updates are interrupted; poll meanwhile", "live_unavailable", retry
        )
    sub = await service.subscriber(
        conn,
        building,
        room,
        sensor_type=sensor_type,
        unit=unit,
        captures=captures,
        queue_rounds=settings.live_queue_rounds,
    )
    if len(hub.subscribers) >= settings.live_max_streams:  # checked here: no await until added
        state.metrics.live_streams_refused.labels(reason="too_many_streams").inc()
        raise ServiceUnavailable(
            f"this server has {settings.live_max_streams} live streams open (LIVE_MAX_STREAMS)",
            "too_many_streams",
            retry,
        )
    missed = hub.subscribe(sub, last_event_id)
    try:
        first = await (hub.snapshot(sub) if missed is None else hub.replay(sub, missed))
    except BaseException:
        hub.unsubscribe(sub)
        raise
    return EventStream(hub, sub, first, settings.live_heartbeat_seconds, state.metrics)


@router.get("/buildings/{building}/live", responses=_STREAM, response_class=Response)
async def building_live(
    building: PathKey,
    conn: ReadConnection,
    state: State,
    sensor_type: OptionalSensorType = None,
    unit: UnitParam = None,
    captures: CapturesParam = False,
    last_event_id: LastEventId = None,
) -> Response:
    """Server-Sent Events: each room's new 15-minute average within a second of the commit.

    First a `reset` event with every room's current averages, then an `average` event per room
    and sensor type a write changed (the body of a room in GET …/averages), and with
    `captures=true` a `capture` event per new capture. Reconnecting with `Last-Event-ID` resumes
    without a gap (a `reset` when the id is too old). A heartbeat comment every ~15 s.
    """
    return await _open(state, conn, building, None, sensor_type, unit, captures, last_event_id)


@router.get("/buildings/{building}/rooms/{room}/live", responses=_STREAM, response_class=Response)
async def room_live(
    building: PathKey,
    room: PathKey,
    conn: ReadConnection,
    state: State,
    sensor_type: OptionalSensorType = None,
    unit: UnitParam = None,
    captures: CapturesParam = False,
    last_event_id: LastEventId = None,
) -> Response:
    """Server-Sent Events of one room: as the building's stream, for this room only."""
    return await _open(state, conn, building, room, sensor_type, unit, captures, last_event_id)
