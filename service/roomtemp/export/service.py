"""Export rules: the range (from, to], cursors on the last timestamp, unit conversion, rows
in the capture file format so an export imports again unchanged."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roomtemp.average.service import Scale, scale_for
from roomtemp.errors import ErrorDetail, InvalidInput
from roomtemp.export import queries
from roomtemp.pagination import decode_int_cursor, encode_cursor
from roomtemp.registry import service as registry
from roomtemp.timefmt import EPOCH, MAX_TS, MIN_TS, from_micros, to_micros

CSV_COLUMNS = ("building", "room", "sensor_type", "value", "unit", "ts")
STREAM_PAGE = 5000


@dataclass(frozen=True)
class Selection:
    """One room's captures of one sensor type in (start, end], resolved against the registry."""

    building: str
    room: str
    sensor_type: str
    room_id: int
    sensor_type_id: int
    scale: Scale
    start: datetime
    end: datetime


async def select(
    conn: AsyncConnection,
    building: str,
    room: str,
    *,
    sensor_type: str,
    start: datetime | None,
    end: datetime,
    unit: str | None,
) -> Selection:
    start = start or EPOCH
    if end <= start:
        raise InvalidInput(
            "invalid parameter 'to': must be after 'from'",
            [ErrorDetail("must be after 'from'", field="to")],
        )
    r = await registry.get_room(conn, building, room)
    st = await registry.sensor_type_for_query(conn, sensor_type)
    return Selection(building, room, st.key, r.id, st.id, scale_for(st, unit), start, end)


def _after(sel: Selection, cursor: str | None) -> datetime:
    # Only instants we can store can have been issued; anything else is a forged cursor.
    micros = decode_int_cursor(cursor, to_micros(MIN_TS), to_micros(MAX_TS))
    return sel.start if micros is None else max(sel.start, from_micros(micros))


@dataclass(frozen=True)
class Page:
    captures: list[tuple[datetime, float]]
    next_cursor: str | None


async def page(conn: AsyncConnection, sel: Selection, *, cursor: str | None, limit: int) -> Page:
    rows = await queries.select_captures_page(
        conn, sel.room_id, sel.sensor_type_id, _after(sel, cursor), sel.end, limit
    )
    converted = [(ts, sel.scale.value(v) or 0.0) for ts, v in rows]
    nxt = encode_cursor(str(to_micros(rows[-1][0]))) if len(rows) == limit else None
    return Page(converted, nxt)


async def stream_rows(
    engine: AsyncEngine, sel: Selection, page_size: int = STREAM_PAGE
) -> AsyncIterator[list[tuple[datetime, float]]]:
    """All captures of the selection, page by page; each page is its own short query, so a long
    export holds no transaction or snapshot open."""
    after = sel.start
    while True:
        async with engine.connect() as conn:
            rows = await queries.select_captures_page(
                conn, sel.room_id, sel.sensor_type_id, after, sel.end, page_size
            )
        if rows:
            yield [(ts, sel.scale.value(v) or 0.0) for ts, v in rows]
        if len(rows) < page_size:
            return
        after = rows[-1][0]


def csv_header() -> str:
    return ",".join(CSV_COLUMNS) + "\r\n"


def csv_lines(sel: Selection, rows: list[tuple[datetime, float]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for ts, value in rows:
        writer.writerow(
            (
                sel.building,
                sel.room,
                sel.sensor_type,
                repr(value),
                sel.scale.unit,
                ts.astimezone(UTC).isoformat(),
            )
        )
    return buffer.getvalue()


def ndjson_lines(sel: Selection, rows: list[tuple[datetime, float]]) -> bytes:
    return b"".join(
        orjson.dumps(
            {
                "building": sel.building,
                "room": sel.room,
                "sensor_type": sel.sensor_type,
                "value": value,
                "unit": sel.scale.unit,
                "ts": ts.astimezone(UTC).isoformat(),
            }
        )
        + b"\n"
        for ts, value in rows
    )
