"""Average rules: window and step limits, series alignment, unit of the answer."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp import timegrid, units
from roomtemp.average import overview_queries, queries, sensor_queries
from roomtemp.average.overview_queries import RoomWindowStats
from roomtemp.average.queries import SeriesPoint, WindowStats
from roomtemp.errors import ErrorDetail, InvalidInput, NotFound
from roomtemp.registry import service as registry
from roomtemp.registry.service import SensorTypeRow
from roomtemp.rollup import service as rollups
from roomtemp.timefmt import from_micros, parse_time, to_micros

MIN_WINDOW = timedelta(minutes=1)
MAX_WINDOW = timedelta(hours=24)
MIN_STEP = timedelta(minutes=1)
MAX_STEP = timedelta(days=31)
#: A series read from the raw captures scans each point's window: its cost grows with
#: points x window. Beyond this many point-hours it is refused at once (422) rather than left
#: to run into the read statement timeout. Steps and windows in multiples of 15 minutes read
#: the rollups and are not limited by it.
MAX_RAW_SERIES_POINT_HOURS = 5_000


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"invalid parameter {field!r}: {message}", [ErrorDetail(message, field)])


def parse_span(text: str, field: str, *, low: timedelta, high: timedelta) -> timedelta:
    """A rolling step or window in Grafana's interval syntax (timegrid): a step below a minute
    rounds up to 1m; months and years are refused (they are bucket steps, mode=buckets)."""
    interval = timegrid.parse_interval(text, field)
    if field == "step":
        span = timegrid.rolling_step(interval, field)
    else:
        span = timegrid.rolling_window(interval, field)
    if not low <= span <= high:
        raise _bad(field, f"must be between {low} and {high}")
    return span


def parse_window(window: str) -> timedelta:
    return parse_span(window, "window", low=MIN_WINDOW, high=MAX_WINDOW)


def window_ending(at: str | None, window: str, now: datetime) -> tuple[datetime, timedelta]:
    """The end (`at`, default now) and length of a window given as query parameters."""
    end = parse_time(at, "at") if at is not None else now
    return end, parse_window(window)


@dataclass(frozen=True)
class Scale:
    """Converts stored (canonical) values to the unit the caller asked for."""

    unit: str
    source: str

    def value(self, v: float | None) -> float | None:
        return None if v is None else units.convert(v, self.source, self.unit)


def scale_for(sensor_type: SensorTypeRow, unit: str | None) -> Scale:
    return _scale(sensor_type.key, sensor_type.unit, unit)


def scale_of(sensor_type: str, canonical: str, unit: str | None) -> Scale:
    """The Scale for a sensor type given by key and canonical unit."""
    return _scale(sensor_type, canonical, unit)


async def find_sensor(conn: AsyncConnection, key: str) -> sensor_queries.SensorRow:
    """A sensor by its key in the API: a registered key, or a default sensor's
    "{building}/{room}/{sensor_type}" (registered keys cannot contain '/'). Retired sensors
    are found (their captures are history)."""
    found = await sensor_queries.select_sensor(conn, key)
    if found is None:
        raise NotFound(f"sensor {key!r} does not exist")
    return found


def _scale(key: str, canonical: str, unit: str | None) -> Scale:
    target = canonical if unit is None else units.normalise(unit)
    try:
        units.convert(0.0, canonical, target)
    except units.UnitError:
        raise _bad("unit", f"{unit!r} is not a unit of sensor type {key!r}") from None
    return Scale(target, canonical)


@dataclass(frozen=True)
class RoomAverage:
    building: str
    room: str
    sensor_type: str
    unit: str
    window_start: datetime
    window_end: datetime
    stats: WindowStats


async def require_raw(conn: AsyncConnection, start: datetime, field: str = "from") -> None:
    """Refuse (422) a rolling window reaching before the raw horizon: rolling windows are
    computed from the raw captures, which retention dropped there (the rollups outlive them:
    bucket mode answers from those)."""
    rollups.require_raw(start, await rollups.horizons(conn), what="a rolling window", field=field)


async def room_average(
    conn: AsyncConnection,
    building: str,
    room: str,
    *,
    sensor_type: str,
    at: datetime,
    window: timedelta,
    unit: str | None,
) -> RoomAverage:
    keys = await queries.select_room_keys(conn, building, room, sensor_type)
    if keys is None:  # say which is unknown, after the horizon's 422 as for any window
        await require_raw(conn, at - window, "at")
        r = await registry.get_room(conn, building, room)
        st = await registry.sensor_type_for_query(conn, sensor_type)
        # Created meanwhile: ids known now, horizon read above.
        keys = queries.RoomKeys(r.id, st.id, st.key, st.unit, None)
    else:
        rollups.require_raw(
            at - window, rollups.Horizons(raw=keys.raw_from), what="a rolling window", field="at"
        )
    stats = await queries.select_window_stats(
        conn, keys.room_id, keys.sensor_type_id, at - window, at
    )
    scale = _scale(keys.sensor_type_key, keys.sensor_type_unit, unit)
    stats = replace(
        stats,
        mean=scale.value(stats.mean),
        min=scale.value(stats.min),
        max=scale.value(stats.max),
        time_weighted_mean=scale.value(stats.time_weighted_mean),
    )
    return RoomAverage(building, room, keys.sensor_type_key, scale.unit, at - window, at, stats)


@dataclass(frozen=True)
class RoomSeries:
    building: str
    room: str
    sensor_type: str
    unit: str
    window: timedelta
    step: timedelta
    points: list[SeriesPoint]


def series_bounds(
    start: datetime, end: datetime, step: timedelta, *, max_points: int
) -> tuple[datetime, datetime, int]:
    """First and last multiple of `step` since the epoch with start < t <= end, and their count."""
    if end <= start:
        raise _bad("to", "must be after 'from'")
    step_us = step // timedelta(microseconds=1)
    first_us = (to_micros(start) // step_us + 1) * step_us
    last_us = to_micros(end) // step_us * step_us
    count = max(0, (last_us - first_us) // step_us + 1)
    if count > max_points:
        raise _bad("step", f"the range holds {count} points; at most {max_points} are allowed")
    return from_micros(first_us), from_micros(last_us), count


def _check_raw_cost(points: int, window: timedelta) -> None:
    point_hours = points * window / timedelta(hours=1)
    if point_hours > MAX_RAW_SERIES_POINT_HOURS:
        raise _bad(
            "step",
            f"{points} points x a {window} window is {point_hours:,.0f} point-hours; at most "
            f"{MAX_RAW_SERIES_POINT_HOURS:,} are read from raw captures: narrow the range, widen "
            "the step, shorten the window, or use a step and window in multiples of 15 minutes",
        )


async def room_series(
    conn: AsyncConnection,
    building: str,
    room: str,
    *,
    sensor_type: str,
    start: datetime,
    end: datetime,
    step: timedelta,
    window: timedelta,
    unit: str | None,
    max_points: int,
    use_rollups: bool = True,
) -> RoomSeries:
    series_bounds(start, end, step, max_points=max_points)  # bad parameters before a 404
    keys = await queries.select_room_keys(conn, building, room, sensor_type)
    if keys is None:  # say which is unknown (or, if created meanwhile, read the horizon)
        r = await registry.get_room(conn, building, room)
        st = await registry.sensor_type_for_query(conn, sensor_type)
        keys = queries.RoomKeys(r.id, st.id, st.key, st.unit, (await rollups.horizons(conn)).raw)
    scale = _scale(keys.sensor_type_key, keys.sensor_type_unit, unit)
    points = await _points(
        conn,
        keys.room_id,
        keys.sensor_type_id,
        scale,
        horizons=rollups.Horizons(raw=keys.raw_from),
        sensor_id=None,
        start=start,
        end=end,
        step=step,
        window=window,
        max_points=max_points,
        use_rollups=use_rollups,
    )
    return RoomSeries(building, room, keys.sensor_type_key, scale.unit, window, step, points)


@dataclass(frozen=True)
class SensorAverage:
    sensor: str
    sensor_type: str
    unit: str
    window_start: datetime
    window_end: datetime
    stats: WindowStats


async def sensor_average(
    conn: AsyncConnection, key: str, *, at: datetime, window: timedelta, unit: str | None
) -> SensorAverage:
    """One sensor's own statistics of (at - window, at], in whichever rooms it was."""
    await require_raw(conn, at - window, "at")
    found = await find_sensor(conn, key)
    scale = scale_of(found.sensor_type, found.unit, unit)
    stats = await sensor_queries.select_sensor_window_stats(conn, found.id, at - window, at)
    stats = replace(
        stats,
        mean=scale.value(stats.mean),
        min=scale.value(stats.min),
        max=scale.value(stats.max),
        time_weighted_mean=scale.value(stats.time_weighted_mean),
    )
    return SensorAverage(found.api_key, found.sensor_type, scale.unit, at - window, at, stats)


@dataclass(frozen=True)
class SensorSeries:
    sensor: str
    sensor_type: str
    unit: str
    window: timedelta
    step: timedelta
    points: list[SeriesPoint]


async def _points(
    conn: AsyncConnection,
    room_id: int | None,
    sensor_type_id: int,
    scale: Scale,
    *,
    horizons: rollups.Horizons | None = None,
    sensor_id: int | None,
    start: datetime,
    end: datetime,
    step: timedelta,
    window: timedelta,
    max_points: int,
    use_rollups: bool,
) -> list[SeriesPoint]:
    first, last, count = series_bounds(start, end, step, max_points=max_points)
    if not count:
        return []
    if horizons is None:
        horizons = await rollups.horizons(conn)
    rollups.require_raw(first - window, horizons, what="a rolling window", field="from")
    bucket = queries.rollup_bucket(step, window) if use_rollups else None
    if bucket is None:
        _check_raw_cost(count, window)
    raw = await queries.select_series(
        conn,
        room_id,
        sensor_type_id,
        first=first,
        last=last,
        step=step,
        window=window,
        bucket=bucket,
        sensor_id=sensor_id,
    )
    v = scale.value
    if scale.unit == scale.source:
        return raw
    return [SeriesPoint(p.t, p.count, v(p.mean), v(p.min), v(p.max), p.sensors) for p in raw]


async def sensor_series(
    conn: AsyncConnection,
    key: str,
    *,
    start: datetime,
    end: datetime,
    step: timedelta,
    window: timedelta,
    unit: str | None,
    max_points: int,
    use_rollups: bool = True,
) -> SensorSeries:
    """A series of one sensor's own rolling windows, in whichever rooms it was."""
    series_bounds(start, end, step, max_points=max_points)  # bad parameters before a 404
    found = await find_sensor(conn, key)
    scale = scale_of(found.sensor_type, found.unit, unit)
    points = await _points(
        conn,
        None,
        found.sensor_type_id,
        scale,
        sensor_id=found.id,
        start=start,
        end=end,
        step=step,
        window=window,
        max_points=max_points,
        use_rollups=use_rollups,
    )
    return SensorSeries(found.api_key, found.sensor_type, scale.unit, window, step, points)


@dataclass(frozen=True)
class BuildingAverages:
    building: str
    sensor_type: str
    unit: str
    window_start: datetime
    window_end: datetime
    rooms: list[RoomWindowStats]


async def building_averages(
    conn: AsyncConnection,
    building: str,
    *,
    sensor_type: str,
    at: datetime,
    window: timedelta,
    unit: str | None,
) -> BuildingAverages:
    keys = await queries.select_building_keys(conn, building, sensor_type)
    if keys is None:  # say which is unknown, after the horizon's 422 as for any window
        await require_raw(conn, at - window, "at")
        b = await registry.get_building(conn, building)
        st = await registry.sensor_type_for_query(conn, sensor_type)
        keys = queries.BuildingKeys(b.id, st.id, st.key, st.unit, None)  # created meanwhile
    else:
        rollups.require_raw(
            at - window, rollups.Horizons(raw=keys.raw_from), what="a rolling window", field="at"
        )
    scale = _scale(keys.sensor_type_key, keys.sensor_type_unit, unit)
    rooms = await overview_queries.select_building_window_stats(
        conn, keys.building_id, keys.sensor_type_id, at - window, at
    )
    if scale.unit != scale.source:
        v = scale.value
        rooms = [replace(r, mean=v(r.mean), min=v(r.min), max=v(r.max)) for r in rooms]
    return BuildingAverages(building, keys.sensor_type_key, scale.unit, at - window, at, rooms)


@dataclass(frozen=True)
class LiveRoomAverage:
    """The latest window of one room and sensor type, with where it belongs (live streams)."""

    room_id: int
    building: str
    sensor_type: str
    canonical_unit: str
    window_start: datetime
    window_end: datetime
    stats: RoomWindowStats


async def rooms_latest(
    conn: AsyncConnection,
    room_ids: list[int],
    *,
    at: datetime,
    window: timedelta,
    sensor_type_ids: list[int] | None = None,
    building_ids: list[int] | None = None,
) -> list[LiveRoomAverage]:
    """The window (at - window, at] of many rooms (of `building_ids`, if given), every sensor
    type they have (or those given), in one statement, in the canonical units."""
    if not room_ids:
        return []
    rows = await overview_queries.select_rooms_window_stats(
        conn, room_ids, sensor_type_ids, at - window, at, building_ids
    )
    return [
        LiveRoomAverage(r.room_id, r.building, r.sensor_type, r.unit, at - window, at, r.stats)
        for r in rows
    ]
