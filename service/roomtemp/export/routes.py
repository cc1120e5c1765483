"""HTTP endpoint for raw captures: JSON pages, or the whole range streamed as CSV/NDJSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.api import API_PREFIX
from roomtemp.api.auth import AuthFirstRoute, Reach
from roomtemp.api.deps import Cursor, Now, PathKey, ReadConnection, SensorTypeParam, State
from roomtemp.api.responses import json_response
from roomtemp.api.state import AppState
from roomtemp.export import service
from roomtemp.export.schemas import CaptureOut, CapturesPage
from roomtemp.pagination import DEFAULT_LIMIT, MAX_LIMIT
from roomtemp.sensors import service as sensors
from roomtemp.timefmt import TIMESTAMP_HELP, TIMESTAMP_PATTERN, parse_time

router = APIRouter(prefix=API_PREFIX, tags=["export"], route_class=AuthFirstRoute)

# Streamed media type -> (Content-Type, file extension of the Content-Disposition filename).
_STREAM_TYPES = {
    "text/csv": ("text/csv; charset=utf-8", "csv"),
    "application/x-ndjson": ("application/x-ndjson", "ndjson"),
}
_FORMATS = {"json": None, "csv": "text/csv", "ndjson": "application/x-ndjson"}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
        "description": "A page (JSON), or every capture of the range (CSV, NDJSON)",
    },
    404: {"description": "Unknown building or room"},
}


_SENSOR_RESPONSES = {**_RESPONSES, 404: {"description": "Unknown sensor"}}
FromParam = Annotated[
    str | None,
    Query(
        alias="from",
        max_length=64,
        description="Exclusive start; default: all; " + TIMESTAMP_HELP,
        json_schema_extra={"pattern": TIMESTAMP_PATTERN},
    ),
]
ToParam = Annotated[
    str | None,
    Query(
        max_length=64,
        description="Inclusive end; default now; " + TIMESTAMP_HELP,
        json_schema_extra={"pattern": TIMESTAMP_PATTERN},
    ),
]
FormatParam = Annotated[
    Literal["json", "csv", "ndjson"] | None,
    Query(description="Overrides the Accept header: JSON pages, or the range streamed"),
]


def _streamed_type(request: Request, fmt: str | None) -> str | None:
    """The streamed media type asked for (`format`, else the Accept header); None: JSON."""
    if fmt is not None:
        return _FORMATS[fmt]
    accept = request.headers.get("accept", "")
    for media in (part.split(";")[0].strip().lower() for part in accept.split(",")):
        if media in _STREAM_TYPES:
            return media
        if media in ("application/json", "*/*"):
            return None
    return None


@router.get("/buildings/{building}/rooms/{room}/captures", responses=_RESPONSES)
async def get_captures(
    building: PathKey,
    room: PathKey,
    request: Request,
    conn: ReadConnection,
    state: State,
    now: Now,
    from_: FromParam = None,
    to: ToParam = None,
    sensor_type: SensorTypeParam = "temperature",
    unit: Annotated[str | None, Query(max_length=32, description="Convert to this unit")] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Page size (JSON)")
    ] = DEFAULT_LIMIT,
    cursor: Cursor = None,
    format: FormatParam = None,
) -> Any:
    """Raw captures of one room in time order, in (from, to].

    JSON answers one page at a time (keyset cursor, never OFFSET). With `Accept: text/csv` or
    `Accept: application/x-ndjson` (or `format=csv`, `format=ndjson`) the whole range streams
    in the capture file format, which `roomtemp import` and `POST /v1/captures` read back
    unchanged.
    """
    start = parse_time(from_, "from") if from_ is not None else None
    end = parse_time(to, "to") if to is not None else now
    sel = await service.select(
        conn, building, room, sensor_type=sensor_type, start=start, end=end, unit=unit
    )
    return await _answer(request, conn, state, sel, cursor=cursor, limit=limit, fmt=format)


@router.get("/sensors/{key:path}/captures", responses=_SENSOR_RESPONSES)
async def get_sensor_captures(
    key: Annotated[
        str,
        Path(
            min_length=1,
            max_length=200,
            description="Registered sensor key, or building/room/sensor_type for a room's "
            "default sensor of that type",
        ),
    ],
    request: Request,
    conn: ReadConnection,
    state: State,
    now: Now,
    reach: Reach,
    from_: FromParam = None,
    to: ToParam = None,
    unit: Annotated[str | None, Query(max_length=32, description="Convert to this unit")] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Page size (JSON)")
    ] = DEFAULT_LIMIT,
    cursor: Cursor = None,
    format: FormatParam = None,
) -> Any:
    """Raw captures of one sensor in every room it has been in, in time order, in (from, to];
    pages and streams as for a room."""
    await sensors.check_reach(conn, key, reach, write=False)
    start = parse_time(from_, "from") if from_ is not None else None
    end = parse_time(to, "to") if to is not None else now
    sel = await service.select_sensor(conn, key, start=start, end=end, unit=unit)
    return await _answer(request, conn, state, sel, cursor=cursor, limit=limit, fmt=format)


async def _answer(
    request: Request,
    conn: AsyncConnection,
    state: AppState,
    sel: service.Selection,
    *,
    cursor: str | None,
    limit: int,
    fmt: str | None,
) -> Any:
    media = _streamed_type(request, fmt)
    if media is None:
        page = await service.page(conn, sel, cursor=cursor, limit=limit)
        return json_response(
            CapturesPage(
                building=sel.building,
                room=sel.room,
                sensor_type=sel.sensor_type,
                sensor=sel.sensor,
                unit=sel.scale.unit,
                captures=[
                    CaptureOut(ts=c.ts.astimezone(UTC), value=c.value, sensor=c.sensor)
                    for c in page.captures
                ],
                next_cursor=page.next_cursor,
            )
        )
    # Streamed on its own connection after the endpoint returns; from the standby if any.
    engine = state.read_engine or state.primary_read_engine

    async def body() -> AsyncIterator[bytes]:
        if media == "text/csv":
            yield service.csv_header().encode()
        async for rows in service.stream_rows(engine, sel):
            if media == "text/csv":
                yield service.csv_lines(sel, rows).encode()
            else:
                yield service.ndjson_lines(sel, rows)

    content_type, extension = _STREAM_TYPES[media]
    return StreamingResponse(
        body(),
        media_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{_filename(sel)}.{extension}"'},
    )


def _filename(sel: service.Selection) -> str:
    """The captures' subject: keys hold no quote or separator of a header (KEY_PATTERN), and a
    default sensor's "/" becomes "_"."""
    subject = sel.sensor or f"{sel.building}/{sel.room}/{sel.sensor_type}"
    return "captures_" + subject.replace("/", "_")
