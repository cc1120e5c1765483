"""The wire side of bucket mode for average/routes.py: its query parameters (refusing the ones
that mean nothing there) and its JSON bodies (times with the zone's offset at each instant)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp import timegrid
from roomtemp.average import bucket_service
from roomtemp.average.bucket_service import BucketPoint, BucketSeries
from roomtemp.errors import ErrorDetail, InvalidInput
from roomtemp.rollup import service as rollups
from roomtemp.settings import Settings
from roomtemp.timefmt import parse_time

DEFAULT_STEP = "15m"
DEFAULT_WINDOW = "15m"
# Parameters of the rolling mode that mean nothing with mode=buckets, and the reverse.
_ROLLING_ONLY = ("window", "at")
_BUCKETS_ONLY = ("tz",)


def _refuse(names: list[str], message: str) -> None:
    if names:
        raise InvalidInput(
            f"invalid parameters {', '.join(names)}: {message}",
            [ErrorDetail(message, name) for name in names],
        )


def chosen_mode(mode: str, params: Mapping[str, str]) -> str:
    """The mode a series request runs in. `auto`: buckets when the step is longer than the
    window (a month counts 30 days, a year 365), else rolling windows, so one dashboard URL with
    Grafana's `$__interval` counts every capture at every zoom."""
    if mode != "auto":
        return mode
    step = timegrid.parse_interval(params.get("step", DEFAULT_STEP), "step")
    window = timegrid.parse_interval(params.get("window", DEFAULT_WINDOW), "window")
    return "buckets" if step.nominal > window.nominal else "rolling"


#: The finest bucket the rollups answer where raw captures were dropped (rollup/retention.py).
_ROLLUP_STEP = "1h"


async def choose(
    conn: AsyncConnection, mode: str, params: Mapping[str, str]
) -> tuple[str, Mapping[str, str]]:
    """The mode and parameters a series request runs with: chosen_mode, except that with
    mode=auto a range starting where retention dropped the raw captures (rolling windows need
    them) is answered in buckets of at least 1 hour, from the rollups, so a dashboard zoomed
    into last year still gets an answer, at the finest resolution kept."""
    chosen = chosen_mode(mode, params)
    if mode != "auto" or "from" not in params:
        return chosen, params
    kept = await rollups.horizons(conn)
    if not kept.raw_gone(parse_time(params["from"], "from")):
        return chosen, params
    step = timegrid.parse_interval(params.get("step", DEFAULT_STEP), "step")
    if step.nominal < timegrid.parse_interval(_ROLLUP_STEP, "step").nominal:
        params = {**params, "step": _ROLLUP_STEP}
    return "buckets", params


def refuse_in_rolling(params: Mapping[str, str], *also: str, auto: bool = False) -> None:
    """Refuse bucket-mode parameters (and `also`) in a rolling-mode request; with mode=auto
    (which may have chosen either) `tz` is allowed and unused."""
    names = [n for n in (*([] if auto else _BUCKETS_ONLY), *also) if n in params]
    _refuse(names, "applies to mode=buckets only")


def _request(params: Mapping[str, str], auto: bool = False) -> bucket_service.Request:
    # With mode=auto the request names a window too (it decided the mode): allowed, unused.
    _refuse(
        [n for n in _ROLLING_ONLY if n in params and not (auto and n == "window")],
        "applies to mode=rolling only",
    )
    missing = [n for n in ("from", "to") if n not in params]
    _refuse(missing, "required with mode=buckets")
    return bucket_service.request(
        parse_time(params["from"], "from"),
        parse_time(params["to"], "to"),
        params.get("step", DEFAULT_STEP),
        params.get("tz"),
    )


def _default_zone(settings: Settings) -> str:
    return settings.default_time_zone


def _points(points: list[BucketPoint]) -> list[dict[str, Any]]:
    return [
        {
            "t": p.t,
            "end": p.end,
            "count": p.count,
            "mean": p.mean,
            "min": p.min,
            "max": p.max,
            "time_weighted_mean": p.time_weighted_mean,
            "sensors": p.sensors,
        }
        for p in points
    ]


def _head(series: BucketSeries) -> dict[str, Any]:
    return {
        "sensor_type": series.sensor_type,
        "unit": series.unit,
        "mode": "buckets",
        "step": series.step,
        "requested_step": series.requested_step,
        "time_zone": series.time_zone,
        "from": series.start,
        "to": series.end,
        "resolution": series.resolution,
        "raw_from": series.raw_from,
    }


def _dumps(body: dict[str, Any]) -> bytes:
    # Up to 10,000 points: plain dicts through orjson (schemas.py documents the shape).
    return orjson.dumps(body, option=orjson.OPT_UTC_Z)


async def room(
    conn: AsyncConnection,
    settings: Settings,
    params: Mapping[str, str],
    building: str,
    room: str,
    sensor_type: str,
    unit: str | None,
    auto: bool = False,
) -> bytes:
    req = _request(params, auto)
    series = await bucket_service.room_buckets(
        conn,
        building,
        room,
        req,
        sensor_type=sensor_type,
        unit=unit,
        default_zone=_default_zone(settings),
        use_rollups=settings.rollup_reads,
    )
    return _dumps(
        {"building": building, "room": room, **_head(series), "points": _points(series.points)}
    )


async def sensor(
    conn: AsyncConnection,
    settings: Settings,
    params: Mapping[str, str],
    key: str,
    unit: str | None,
    auto: bool = False,
) -> bytes:
    req = _request(params, auto)
    found = await bucket_service.sensor_buckets(
        conn,
        key,
        req,
        unit=unit,
        default_zone=_default_zone(settings),
        use_rollups=settings.rollup_reads,
    )
    series = found.series
    return _dumps({"sensor": found.sensor, **_head(series), "points": _points(series.points)})


async def building(
    conn: AsyncConnection,
    settings: Settings,
    params: Mapping[str, str],
    building: str,
    sensor_type: str,
    unit: str | None,
    auto: bool = False,
) -> bytes:
    req = _request(params, auto)
    result = await bucket_service.building_buckets(
        conn,
        building,
        req,
        sensor_type=sensor_type,
        unit=unit,
        default_zone=_default_zone(settings),
        use_rollups=settings.rollup_reads,
    )
    head = BucketSeries(
        result.sensor_type,
        result.unit,
        result.step,
        result.requested_step,
        result.time_zone,
        result.start,
        result.end,
        [],
        result.resolution,
        result.raw_from,
    )
    return _dumps(
        {
            "building": building,
            **_head(head),
            "rooms": [{"room": r, "points": _points(p)} for r, p in result.rooms],
        }
    )
