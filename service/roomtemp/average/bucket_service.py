"""Bucket-mode series: the step (rounded up to the ladder), the zone (`tz`, else the building's,
else the default), whole buckets covering [from, to), and every capture in exactly one bucket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.average import bucket_queries
from roomtemp.average import timegrid_standin as timegrid
from roomtemp.average.bucket_queries import BucketQuery, BucketRow
from roomtemp.average.service import Scale, find_sensor, scale_for, scale_of
from roomtemp.errors import ErrorDetail, InvalidInput
from roomtemp.registry import service as registry


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"invalid parameter {field!r}: {message}", [ErrorDetail(message, field)])


@dataclass(frozen=True)
class Request:
    """A bucket series' parameters, checked before anything is read (so they fail before a 404)."""

    start: datetime
    end: datetime
    step: timegrid.Step
    tz: ZoneInfo | None


def request(start: datetime, end: datetime, step: str, tz: str | None) -> Request:
    if end <= start:
        raise _bad("to", "must be after 'from'")
    used = timegrid.bucket_step(timegrid.parse_interval(step, "step"))
    return Request(start, end, used, parse_zone(tz))


@dataclass(frozen=True)
class Grid:
    zone: ZoneInfo
    edges: list[datetime]  # UTC


def parse_zone(tz: str | None) -> ZoneInfo | None:
    """The `tz` parameter (None: not given); 422 on `tz` when it is no IANA zone."""
    return None if tz is None else timegrid.zone(tz, "tz")


async def zone_for(
    conn: AsyncConnection, tz: ZoneInfo | None, building: str, default_zone: str
) -> ZoneInfo:
    """`tz`, else the building's zone, else the default (settings.default_time_zone)."""
    if tz is not None:
        return tz
    stored = await bucket_queries.select_building_zone(conn, building)
    return timegrid.resolve_zone(None, stored, default_zone)


def calendar_edges(start: datetime, end: datetime, step: str, zone: ZoneInfo) -> list[datetime]:
    """Edges (UTC) of the whole local days ("1d"), weeks ("1w") or months ("1M") covering
    [start, end)."""
    return timegrid.bucket_edges(
        start, end, timegrid.bucket_step(timegrid.parse_interval(step)), zone
    )


async def _grid(conn: AsyncConnection, req: Request, building: str, default_zone: str) -> Grid:
    """The zone (`tz`, else the building's, else the default) and the edges in it."""
    zone = await zone_for(conn, req.tz, building, default_zone)
    return Grid(zone, timegrid.bucket_edges(req.start, req.end, req.step, zone))


@dataclass(frozen=True)
class BucketPoint:
    t: datetime  # in the zone (its offset at that instant)
    end: datetime
    count: int
    mean: float | None
    min: float | None
    max: float | None
    time_weighted_mean: float | None
    sensors: int


@dataclass(frozen=True)
class BucketSeries:
    """Points of one group; `start`/`end`: the range actually covered (whole buckets)."""

    sensor_type: str
    unit: str
    step: str
    requested_step: str
    time_zone: str
    start: datetime
    end: datetime
    points: list[BucketPoint]


@dataclass(frozen=True)
class BuildingBuckets:
    sensor_type: str
    unit: str
    step: str
    requested_step: str
    time_zone: str
    start: datetime
    end: datetime
    rooms: list[tuple[str, list[BucketPoint]]]


def _points(rows: list[BucketRow], local: list[datetime], scale: Scale) -> list[BucketPoint]:
    v = scale.value
    return [
        BucketPoint(
            local[r.index - 1],
            local[r.index],
            r.count,
            v(r.mean),
            v(r.min),
            v(r.max),
            v(r.time_weighted_mean),
            r.sensors,
        )
        for r in rows
    ]


def _series(
    req: Request, grid: Grid, sensor_type: str, scale: Scale, points: list[BucketPoint]
) -> BucketSeries:
    return BucketSeries(
        sensor_type,
        scale.unit,
        req.step.name,
        req.step.requested,
        grid.zone.key,
        grid.edges[0].astimezone(grid.zone),
        grid.edges[-1].astimezone(grid.zone),
        points,
    )


async def room_buckets(
    conn: AsyncConnection,
    building: str,
    room: str,
    req: Request,
    *,
    sensor_type: str,
    unit: str | None,
    default_zone: str,
) -> BucketSeries:
    r = await registry.get_room(conn, building, room)
    st = await registry.sensor_type_for_query(conn, sensor_type)
    scale = scale_for(st, unit)
    grid = await _grid(conn, req, building, default_zone)
    rows = await bucket_queries.select_buckets(conn, BucketQuery(st.id, grid.edges, room_id=r.id))
    local = [e.astimezone(grid.zone) for e in grid.edges]
    return _series(req, grid, st.key, scale, _points(rows, local, scale))


@dataclass(frozen=True)
class SensorBuckets:
    sensor: str
    series: BucketSeries


async def sensor_buckets(
    conn: AsyncConnection, key: str, req: Request, *, unit: str | None, default_zone: str
) -> SensorBuckets:
    """One sensor's own buckets in whichever rooms it was; the zone of its current building."""
    found = await find_sensor(conn, key)
    scale = scale_of(found.sensor_type, found.unit, unit)
    grid = await _grid(conn, req, found.building, default_zone)
    rows = await bucket_queries.select_buckets(
        conn, BucketQuery(found.sensor_type_id, grid.edges, sensor_id=found.id)
    )
    local = [e.astimezone(grid.zone) for e in grid.edges]
    series = _series(req, grid, found.sensor_type, scale, _points(rows, local, scale))
    return SensorBuckets(found.api_key, series)


async def building_buckets(
    conn: AsyncConnection,
    building: str,
    req: Request,
    *,
    sensor_type: str,
    unit: str | None,
    default_zone: str,
) -> BuildingBuckets:
    """Every room of the building (by key), each with every bucket; one statement."""
    b = await registry.get_building(conn, building)
    st = await registry.sensor_type_for_query(conn, sensor_type)
    scale = scale_for(st, unit)
    grid = await _grid(conn, req, building, default_zone)
    rows = await bucket_queries.select_buckets(
        conn, BucketQuery(st.id, grid.edges, building_id=b.id)
    )
    local = [e.astimezone(grid.zone) for e in grid.edges]
    rooms: list[tuple[str, list[BucketRow]]] = []
    for row in rows:
        if not rooms or rooms[-1][0] != row.group:
            rooms.append((row.group or "", []))
        rooms[-1][1].append(row)
    return BuildingBuckets(
        st.key,
        scale.unit,
        req.step.name,
        req.step.requested,
        grid.zone.key,
        local[0],
        local[-1],
        [(room, _points(rs, local, scale)) for room, rs in rooms],
    )
