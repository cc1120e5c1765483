"""Bucket-mode series: the step (rounded up to the ladder), the zone (`tz`, else the building's,
else the default), whole buckets covering [from, to), and every capture in exactly one bucket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp import timegrid
from roomtemp.average import bucket_queries
from roomtemp.average.bucket_queries import BucketQuery, BucketRow
from roomtemp.average.service import Scale, find_sensor, scale_for, scale_of
from roomtemp.errors import ErrorDetail, InvalidInput
from roomtemp.registry import service as registry
from roomtemp.rollup import service as rollups

#: A building series answers rooms x buckets points: 500 rooms x a year of days fit, not
#: 500 rooms x 10,000 buckets (hundreds of MB of JSON).
MAX_BUILDING_POINTS = 400_000


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
    b = await registry.get_building(conn, building)
    return timegrid.resolve_zone(None, b.time_zone, default_zone)


async def _grid(conn: AsyncConnection, req: Request, building: str, default_zone: str) -> Grid:
    """The zone (`tz`, else the building's, else the default) and the edges in it."""
    zone = await zone_for(conn, req.tz, building, default_zone)
    return Grid(zone, timegrid.bucket_edges(req.start, req.end, req.step, zone))


@dataclass(frozen=True)
class Plan:
    """How a series is read: from the pieces or the raw captures, at which resolution, and
    where raw captures start being kept (None: nothing dropped)."""

    rollups: bool
    resolution: str
    raw_from: datetime | None


async def _plan(conn: AsyncConnection, grid: Grid, allowed: bool) -> Plan:
    """Read the 1-hour/1-day pieces (same answer, less to read) when allowed and worth it, and
    always where the raw captures were dropped (a step finer than the pieces kept there is
    refused, rollup/retention.py)."""
    kept = await rollups.horizons(conn)
    resolution = rollups.resolution(grid.edges, kept)
    use = resolution != rollups.RAW or (allowed and bucket_queries.rollups_pay(grid.edges))
    return Plan(use, resolution, kept.raw)


@dataclass(slots=True)  # not frozen, as BucketRow: 12,500 of them per 500-room series
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
    resolution: str = rollups.RAW  # raw, 1h or 1d: what the answer was computed from
    raw_from: datetime | None = None  # raw captures are kept from here (None: all kept)


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
    resolution: str = rollups.RAW
    raw_from: datetime | None = None


def _points(rows: list[BucketRow], local: list[datetime], scale: Scale) -> list[BucketPoint]:
    # In the canonical unit the values pass as they are: a building series has 50,000 of them,
    # and a conversion call each was 0.65 s of 3.5 s profiling four 500-room requests.
    same, v = scale.unit == scale.source, scale.value
    return [
        BucketPoint(
            local[r.index - 1],
            local[r.index],
            r.count,
            r.mean if same else v(r.mean),
            r.min if same else v(r.min),
            r.max if same else v(r.max),
            r.time_weighted_mean if same else v(r.time_weighted_mean),
            r.sensors,
        )
        for r in rows
    ]


def _series(
    req: Request,
    grid: Grid,
    sensor_type: str,
    scale: Scale,
    points: list[BucketPoint],
    plan: Plan,
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
        plan.resolution,
        plan.raw_from,
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
    use_rollups: bool = True,
) -> BucketSeries:
    r = await registry.get_room(conn, building, room)
    st = await registry.sensor_type_for_query(conn, sensor_type)
    scale = scale_for(st, unit)
    grid = await _grid(conn, req, building, default_zone)
    plan = await _plan(conn, grid, use_rollups)
    rows = await bucket_queries.select_buckets(
        conn,
        BucketQuery(st.id, grid.edges, room_id=r.id),
        rollups=plan.rollups,
        raw_from=plan.raw_from,
    )
    local = [e.astimezone(grid.zone) for e in grid.edges]
    return _series(req, grid, st.key, scale, _points(rows, local, scale), plan)


@dataclass(frozen=True)
class SensorBuckets:
    sensor: str
    series: BucketSeries


async def sensor_buckets(
    conn: AsyncConnection,
    key: str,
    req: Request,
    *,
    unit: str | None,
    default_zone: str,
    use_rollups: bool = True,
) -> SensorBuckets:
    """One sensor's own buckets in whichever rooms it was; the zone of its current building."""
    found = await find_sensor(conn, key)
    scale = scale_of(found.sensor_type, found.unit, unit)
    grid = await _grid(conn, req, found.building, default_zone)
    plan = await _plan(conn, grid, use_rollups)
    rows = await bucket_queries.select_buckets(
        conn,
        BucketQuery(found.sensor_type_id, grid.edges, sensor_id=found.id),
        rollups=plan.rollups,
        raw_from=plan.raw_from,
    )
    local = [e.astimezone(grid.zone) for e in grid.edges]
    series = _series(req, grid, found.sensor_type, scale, _points(rows, local, scale), plan)
    return SensorBuckets(found.api_key, series)


async def building_buckets(
    conn: AsyncConnection,
    building: str,
    req: Request,
    *,
    sensor_type: str,
    unit: str | None,
    default_zone: str,
    use_rollups: bool = True,
) -> BuildingBuckets:
    """Every room of the building (by key), each with every bucket; one statement."""
    b = await registry.get_building(conn, building)
    st = await registry.sensor_type_for_query(conn, sensor_type)
    scale = scale_for(st, unit)
    grid = await _grid(conn, req, building, default_zone)
    points = b.room_count * (len(grid.edges) - 1)
    if points > MAX_BUILDING_POINTS:
        raise _bad(
            "step",
            f"{b.room_count} rooms x {len(grid.edges) - 1} buckets is {points:,} points; at most "
            f"{MAX_BUILDING_POINTS:,} per building series: widen the step or narrow the range",
        )
    plan = await _plan(conn, grid, use_rollups)
    rows = await bucket_queries.select_buckets(
        conn,
        BucketQuery(st.id, grid.edges, building_id=b.id),
        rollups=plan.rollups,
        raw_from=plan.raw_from,
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
        plan.resolution,
        plan.raw_from,
    )
