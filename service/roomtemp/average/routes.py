"""HTTP endpoints for rolling averages."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query, Request, Response

from roomtemp.api import API_PREFIX
from roomtemp.api.auth import AuthFirstRoute, Reach
from roomtemp.api.deps import Now, PathKey, ReadConnection, SensorTypeParam, State, TzParam
from roomtemp.api.responses import json_response
from roomtemp.average import bucket_body, service
from roomtemp.average.schemas import (
    BuildingAveragesOut,
    BuildingBucketsOut,
    RoomAverageOut,
    RoomBucketsOut,
    RoomSeriesOut,
    SensorAverageOut,
    SensorBucketsOut,
    SensorSeriesOut,
)
from roomtemp.sensors import service as sensors
from roomtemp.timefmt import (
    TIMESTAMP_HELP,
    TIMESTAMP_PATTERN,
    format_duration,
    parse_time,
)

# timegrid.INTERVAL_PATTERN's language, spelled so schemathesis generates from it without its
# "too many examples filtered" health check failing; timegrid.parse_interval decides.
STEP_DOC_PATTERN = r"^[0-9]{1,7}(ms|[smhdwMy])$"

router = APIRouter(prefix=API_PREFIX, tags=["averages"], route_class=AuthFirstRoute)


def _text_query(max_length: int, pattern: str, description: str, alias: str | None = None) -> Any:
    """A text query parameter whose pattern is documented but checked by our own parser, so a
    bad value gets the JSON error envelope with its field rather than FastAPI's regex error."""
    return Query(
        max_length=max_length,
        description=description,
        json_schema_extra={"pattern": pattern},
        alias=alias,
    )


def _time_query(description: str, alias: str | None = None) -> Any:
    return _text_query(64, TIMESTAMP_PATTERN, description + TIMESTAMP_HELP, alias)


TimeParam = Annotated[str | None, _time_query("Default now; ")]
WindowParam = Annotated[
    str,
    _text_query(16, STEP_DOC_PATTERN, "Window length, 1m … 24h (e.g. 15m, 1h; Grafana syntax)"),
]
UnitParam = Annotated[
    str | None,
    Query(max_length=32, description="kelvin, celsius or fahrenheit; default canonical unit"),
]
StepParam = Annotated[
    str,
    _text_query(
        16,
        STEP_DOC_PATTERN,
        "Grafana interval syntax (500ms, 10s, 15m, 1h, 1d, 1w, 1M, 1y). Rolling: point spacing "
        "1m … 31d (below 1m rounds up to 1m; M and y only with mode=buckets). Buckets: rounded "
        "up to 1m 2m 5m 10m 15m 20m 30m 1h 2h 3h 4h 6h 8h 12h 1d 1w 1M 1y",
    ),
]
ModeParam = Annotated[
    Literal["rolling", "buckets"],
    Query(
        description="rolling: each point t is the window (t - window, t]; buckets: each point t "
        "holds every capture of [t, next t), in local time of `tz`"
    ),
]
SeriesModeParam = Annotated[
    Literal["rolling", "buckets", "auto"],
    Query(
        description="rolling: each point t is the window (t - window, t]; buckets: each point t "
        "holds every capture of [t, next t), in local time of `tz`; auto: buckets when step is "
        "longer than window, else rolling (a bucket answer carries `mode`, a rolling one `window`)"
    ),
]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown building or room"}}
_NO_SENSOR: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown sensor"}}
#: A sensor's key in a path: a registered key, or a default sensor's "{building}/{room}/{type}".
SensorKey = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        description="Registered sensor key, or building/room/sensor_type for a room's default "
        "sensor of that type",
    ),
]


def _stats(avg: service.RoomAverage | service.SensorAverage) -> dict[str, Any]:
    """The fields a room's and a sensor's window share (RoomAverageOut, SensorAverageOut)."""
    s = avg.stats
    return {
        "sensor_type": avg.sensor_type,
        "unit": avg.unit,
        "window_start": avg.window_start,
        "window_end": avg.window_end,
        "count": s.count,
        "mean": s.mean,
        "min": s.min,
        "max": s.max,
        "time_weighted_mean": s.time_weighted_mean,
        "sensors": s.sensors,
    }


def _series(series: service.RoomSeries | service.SensorSeries, **who: str) -> Response:
    """A rolling series (a room's or a sensor's): plain dicts through orjson, 2,880 points
    (RoomSeriesOut and SensorSeriesOut document the same shape)."""
    body = {
        **who,
        "sensor_type": series.sensor_type,
        "unit": series.unit,
        "window": format_duration(series.window),
        "step": format_duration(series.step),
        # orjson writes each slotted dataclass as {"t", "count", "mean", "min", "max",
        # "sensors"}: the shape PointOut documents, without a dict per point.
        "points": series.points,
    }
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")


@router.get(
    "/buildings/{building}/rooms/{room}/average",
    responses=_NOT_FOUND,
    response_model=RoomAverageOut,
)
async def get_room_average(
    building: PathKey,
    room: PathKey,
    conn: ReadConnection,
    now: Now,
    sensor_type: SensorTypeParam = "temperature",
    at: TimeParam = None,
    window: WindowParam = "15m",
    unit: UnitParam = None,
) -> Response:
    """Statistics of the rolling window (at - window, at] of one room; by default the latest."""
    end, span = service.window_ending(at, window, now)
    avg = await service.room_average(
        conn, building, room, sensor_type=sensor_type, at=end, window=span, unit=unit
    )
    # The dashboards' hottest answer: a plain dict through orjson (RoomAverageOut documents it).
    body = {"building": avg.building, "room": avg.room, **_stats(avg)}
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")


@router.get(
    "/buildings/{building}/rooms/{room}/averages",
    responses=_NOT_FOUND,
    response_model=RoomSeriesOut | RoomBucketsOut,
)
async def get_room_series(
    building: PathKey,
    room: PathKey,
    request: Request,
    conn: ReadConnection,
    state: State,
    from_: Annotated[str, _time_query("Exclusive start; ", alias="from")],
    to: Annotated[str, _time_query("Inclusive end; ")],
    sensor_type: SensorTypeParam = "temperature",
    step: StepParam = "15m",
    window: WindowParam = "15m",
    unit: UnitParam = None,
    mode: SeriesModeParam = "rolling",
    tz: TzParam = None,
) -> Response:
    """A series of rolling windows ending at every multiple of `step` in (from, to].

    Points without captures are present with count 0 and null values. With `mode=buckets`,
    every capture of [from, to) counts in exactly one bucket [t, end) (local days, weeks and
    months of the zone); the sum of the counts is the number of captures covered. `mode=auto`
    picks buckets when step is longer than window, and buckets of at least 1 hour (from the
    rollups) when `from` is before the raw captures kept (retention).
    """
    auto = mode == "auto"
    chosen, params = await bucket_body.choose(conn, mode, request.query_params)
    if chosen == "buckets":
        buckets = await bucket_body.room(
            conn, state.settings, params, building, room, sensor_type, unit, auto
        )
        return Response(buckets, media_type="application/json")
    bucket_body.refuse_in_rolling(request.query_params, auto=auto)
    start = parse_time(from_, "from")
    end = parse_time(to, "to")
    step_span = service.parse_span(step, "step", low=service.MIN_STEP, high=service.MAX_STEP)
    span = service.parse_window(window)
    series = await service.room_series(
        conn,
        building,
        room,
        sensor_type=sensor_type,
        start=start,
        end=end,
        step=step_span,
        window=span,
        unit=unit,
        max_points=state.settings.max_series_points,
        use_rollups=state.settings.rollup_reads,
    )
    return _series(series, building=series.building, room=series.room)


@router.get(
    "/buildings/{building}/averages",
    responses=_NOT_FOUND,
    response_model=BuildingAveragesOut | BuildingBucketsOut,
)
async def get_building_averages(
    building: PathKey,
    request: Request,
    conn: ReadConnection,
    state: State,
    now: Now,
    sensor_type: SensorTypeParam = "temperature",
    at: TimeParam = None,
    window: WindowParam = "15m",
    unit: UnitParam = None,
    mode: ModeParam = "rolling",
    from_: Annotated[str | None, _time_query("mode=buckets: start; ", alias="from")] = None,
    to: Annotated[str | None, _time_query("mode=buckets: end; ")] = None,
    step: Annotated[
        str | None, _text_query(16, STEP_DOC_PATTERN, "mode=buckets: bucket size (see series)")
    ] = None,
    tz: TzParam = None,
) -> Response:
    """The window ending at `at` for every room of a building, with each room's newest capture.

    `mode=buckets` (with from, to, step): every room's series of buckets, in one statement.
    """
    if mode == "buckets":
        buckets = await bucket_body.building(
            conn, state.settings, request.query_params, building, sensor_type, unit
        )
        return Response(buckets, media_type="application/json")
    bucket_body.refuse_in_rolling(request.query_params, "from", "to", "step")
    end, span = service.window_ending(at, window, now)
    result = await service.building_averages(
        conn, building, sensor_type=sensor_type, at=end, window=span, unit=unit
    )
    # 500 rooms: plain dicts through orjson, as the series (BuildingAveragesOut documents it).
    body = {
        "building": result.building,
        "sensor_type": result.sensor_type,
        "unit": result.unit,
        "window_start": result.window_start,
        "window_end": result.window_end,
        "rooms": [
            {
                "room": r.room,
                "count": r.count,
                "mean": r.mean,
                "min": r.min,
                "max": r.max,
                "last_ts": r.last_ts,
                "sensors": r.sensors,
            }
            for r in result.rooms
        ],
    }
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")


# Per-sensor reads. `{key:path}`: a default sensor's key contains '/'.
@router.get("/sensors/{key:path}/average", responses=_NO_SENSOR, response_model=SensorAverageOut)
async def get_sensor_average(
    key: SensorKey,
    conn: ReadConnection,
    now: Now,
    reach: Reach,
    at: TimeParam = None,
    window: WindowParam = "15m",
    unit: UnitParam = None,
) -> Response:
    """Statistics of one sensor's own captures in (at - window, at], in whichever rooms it was."""
    await sensors.check_reach(conn, key, reach, write=False)
    end, span = service.window_ending(at, window, now)
    avg = await service.sensor_average(conn, key, at=end, window=span, unit=unit)
    return json_response(SensorAverageOut(sensor=avg.sensor, **_stats(avg)))


@router.get(
    "/sensors/{key:path}/averages",
    responses=_NO_SENSOR,
    response_model=SensorSeriesOut | SensorBucketsOut,
)
async def get_sensor_series(
    key: SensorKey,
    request: Request,
    conn: ReadConnection,
    state: State,
    reach: Reach,
    from_: Annotated[str, _time_query("Exclusive start; ", alias="from")],
    to: Annotated[str, _time_query("Inclusive end; ")],
    step: StepParam = "15m",
    window: WindowParam = "15m",
    unit: UnitParam = None,
    mode: SeriesModeParam = "rolling",
    tz: TzParam = None,
) -> Response:
    """A series of one sensor's rolling windows ending at every multiple of `step` in
    (from, to], over its captures in whichever rooms it was. `mode=buckets`: every capture of
    [from, to) in one bucket, in the zone of the building the sensor is in now; `mode=auto`:
    buckets when step is longer than window."""
    await sensors.check_reach(conn, key, reach, write=False)
    auto = mode == "auto"
    chosen, params = await bucket_body.choose(conn, mode, request.query_params)
    if chosen == "buckets":
        buckets = await bucket_body.sensor(conn, state.settings, params, key, unit, auto)
        return Response(buckets, media_type="application/json")
    bucket_body.refuse_in_rolling(request.query_params, auto=auto)
    series = await service.sensor_series(
        conn,
        key,
        start=parse_time(from_, "from"),
        end=parse_time(to, "to"),
        step=service.parse_span(step, "step", low=service.MIN_STEP, high=service.MAX_STEP),
        window=service.parse_window(window),
        unit=unit,
        max_points=state.settings.max_series_points,
        use_rollups=state.settings.rollup_reads,
    )
    return _series(series, sensor=series.sensor)
