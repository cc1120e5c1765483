"""Export rules: the range (from, to], cursors on the last (timestamp, sensor), unit conversion,
rows in the capture file format so an export imports again unchanged: a room's default sensor
in the building/room form, a registered sensor in the sensor form (its room follows from its
assignment at ts, as on the way in)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roomtemp.average import service as average
from roomtemp.average.service import Scale, scale_for
from roomtemp.errors import ErrorDetail, InvalidInput
from roomtemp.export import queries
from roomtemp.pagination import decode_cursor, decode_int_cursor, encode_cursor
from roomtemp.registry import service as registry
from roomtemp.timefmt import EPOCH, MAX_TS, MIN_TS, from_micros, to_micros

CSV_COLUMNS = ("building", "room", "sensor_type", "sensor", "value", "unit", "ts")
#: Sorts after every sensor id: "after this instant" (the range start, a pre-sensor cursor).
_AFTER_ALL = 2**31 - 1
STREAM_PAGE = 5000


@dataclass(frozen=True)
class Selection:
    """One room's captures of one sensor type (all its sensors), or one sensor's captures in
    every room it has been in (`sensor_id`), in (start, end], resolved against the registry."""

    building: str
    room: str
    sensor_type: str
    room_id: int | None
    sensor_type_id: int
    scale: Scale
    start: datetime
    end: datetime
    sensor_id: int | None = None
    sensor: str | None = None


def _check_range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise InvalidInput(
            "invalid parameter 'to': must be after 'from'",
            [ErrorDetail("must be after 'from'", field="to")],
        )


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
    _check_range(start, end)
    r = await registry.get_room(conn, building, room)
    st = await registry.sensor_type_for_query(conn, sensor_type)
    return Selection(building, room, st.key, r.id, st.id, scale_for(st, unit), start, end)


async def select_sensor(
    conn: AsyncConnection,
    key: str,
    *,
    start: datetime | None,
    end: datetime,
    unit: str | None,
) -> Selection:
    """One sensor (registered key or a default sensor's "{building}/{room}/{type}")."""
    start = start or EPOCH
    _check_range(start, end)
    found = await average.find_sensor(conn, key)
    return Selection(
        found.building,
        found.room,
        found.sensor_type,
        None,
        found.sensor_type_id,
        average.scale_of(found.sensor_type, found.unit, unit),
        start,
        end,
        sensor_id=found.id,
        sensor=found.api_key,
    )


def _after(sel: Selection, cursor: str | None) -> tuple[datetime, int]:
    """(instant, sensor id) after which the page starts. Only instants we can store and sensor
    ids can have been issued; anything else is a forged cursor. A cursor issued before sensors
    existed holds the instant alone."""
    text = decode_cursor(cursor)
    if text is None:
        return sel.start, _AFTER_ALL
    micros, _, sensor = text.partition(":")
    at = decode_int_cursor(encode_cursor(micros), to_micros(MIN_TS), to_micros(MAX_TS))
    sid = decode_int_cursor(encode_cursor(sensor), 0, _AFTER_ALL) if sensor else _AFTER_ALL
    if at is None or sid is None:  # an empty part: not a cursor we issued
        raise InvalidInput(
            "invalid cursor", [ErrorDetail("cursor is not one this API returned", "cursor")]
        )
    after = from_micros(at)
    return (sel.start, _AFTER_ALL) if after < sel.start else (after, sid)


@dataclass(frozen=True)
class Capture:
    ts: datetime
    value: float
    #: the sensor's key in the API (a default sensor's is "{building}/{room}/{sensor_type}")
    sensor: str
    #: True for a room's default sensor (exported in the building/room form)
    default: bool


@dataclass(frozen=True)
class Page:
    captures: list[Capture]
    next_cursor: str | None


def _converted(sel: Selection, rows: list[queries.CaptureRow]) -> list[Capture]:
    return [Capture(r.ts, sel.scale.value(r.value) or 0.0, r.api_key, r.key is None) for r in rows]


async def _rows(
    conn: AsyncConnection, sel: Selection, after: tuple[datetime, int], limit: int
) -> list[queries.CaptureRow]:
    return await queries.select_captures_page(
        conn,
        room_id=sel.room_id,
        sensor_type_id=sel.sensor_type_id,
        sensor_id=sel.sensor_id,
        after=after,
        to=sel.end,
        limit=limit,
    )


def _cursor(row: queries.CaptureRow) -> str:
    return encode_cursor(f"{to_micros(row.ts)}:{row.sensor_id}")


async def page(conn: AsyncConnection, sel: Selection, *, cursor: str | None, limit: int) -> Page:
    rows = await _rows(conn, sel, _after(sel, cursor), limit)
    nxt = _cursor(rows[-1]) if len(rows) == limit else None
    return Page(_converted(sel, rows), nxt)


async def stream_rows(
    engine: AsyncEngine, sel: Selection, page_size: int = STREAM_PAGE
) -> AsyncIterator[list[Capture]]:
    """All captures of the selection, page by page; each page is its own short query, so a long
    export holds no transaction or snapshot open."""
    after = (sel.start, _AFTER_ALL)
    while True:
        async with engine.connect() as conn:
            rows = await _rows(conn, sel, after, page_size)
        if rows:
            yield _converted(sel, rows)
        if len(rows) < page_size:
            return
        after = (rows[-1].ts, rows[-1].sensor_id)


def csv_header() -> str:
    return ",".join(CSV_COLUMNS) + "\r\n"


def _item(sel: Selection, c: Capture) -> dict[str, object]:
    """A capture as POST /v1/captures takes it: building/room form for a default sensor (the
    room is its own), sensor form otherwise."""
    where: dict[str, object] = (
        {"building": sel.building, "room": sel.room, "sensor_type": sel.sensor_type}
        if c.default and sel.sensor_id is None
        else {"sensor": c.sensor}
    )
    return {
        **where,
        "value": c.value,
        "unit": sel.scale.unit,
        "ts": c.ts.astimezone(UTC).isoformat(),
    }


def csv_lines(sel: Selection, rows: list[Capture]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for c in rows:
        item = _item(sel, c)
        writer.writerow([repr(c.value) if k == "value" else item.get(k, "") for k in CSV_COLUMNS])
    return buffer.getvalue()


def ndjson_lines(sel: Selection, rows: list[Capture]) -> bytes:
    return b"".join(orjson.dumps(_item(sel, c)) + b"\n" for c in rows)
