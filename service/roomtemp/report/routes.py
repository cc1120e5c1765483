"""HTTP endpoint for period reports of a building (JSON or CSV)."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from roomtemp.api import API_PREFIX
from roomtemp.api.auth import AuthFirstRoute
from roomtemp.api.deps import PathKey, ReadConnection, SensorTypeParam, State, TzParam
from roomtemp.api.responses import json_response
from roomtemp.report import service
from roomtemp.report.schemas import (
    CSV_COLUMNS,
    BuildingReportOut,
    GroupedReportOut,
    GroupedRoomReportOut,
    PeriodReportOut,
    RoomReportOut,
)
from roomtemp.report.service import RoomReport
from roomtemp.timefmt import TIMESTAMP_HELP, TIMESTAMP_PATTERN, parse_time

router = APIRouter(prefix=API_PREFIX, tags=["reports"], route_class=AuthFirstRoute)

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    404: {"description": "Unknown building"},
}


def _cell(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return "" if value is None else value


def _fields(r: RoomReport) -> dict[str, Any]:
    """A room's report fields without its key (a period's)."""
    out = asdict(r)
    del out["room"]
    return out


def _wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return any(p.split(";")[0].strip().lower() == "text/csv" for p in accept.split(","))


@router.get(
    "/buildings/{building}/report",
    responses=_RESPONSES,
    response_model=BuildingReportOut | GroupedReportOut,
)
async def get_report(
    building: PathKey,
    request: Request,
    conn: ReadConnection,
    state: State,
    from_: Annotated[
        str,
        Query(
            alias="from",
            max_length=64,
            description="Inclusive start; " + TIMESTAMP_HELP,
            json_schema_extra={"pattern": TIMESTAMP_PATTERN},
        ),
    ],
    to: Annotated[
        str,
        Query(
            max_length=64,
            description="Exclusive end; " + TIMESTAMP_HELP,
            json_schema_extra={"pattern": TIMESTAMP_PATTERN},
        ),
    ],
    sensor_type: SensorTypeParam = "temperature",
    unit: Annotated[str | None, Query(max_length=32, description="Unit of the answer")] = None,
    comfort_low: Annotated[
        float | None,
        Query(
            description="Lower comfort bound, in `unit`; without `unit` in °C for temperature "
            "types (never kelvin). Default COMFORT_LOW_CELSIUS (temperature types)"
        ),
    ] = None,
    comfort_high: Annotated[
        float | None,
        Query(
            description="Upper comfort bound, in `unit`; without `unit` in °C for temperature "
            "types (never kelvin). Default COMFORT_HIGH_CELSIUS (temperature types)"
        ),
    ] = None,
    format: Annotated[
        Literal["json", "csv"] | None, Query(description="Overrides the Accept header")
    ] = None,
    group_by: Annotated[
        Literal["day", "week", "month"] | None,
        Query(
            description="Also report each room per local day, week (from Monday) or month: "
            "whole periods covering [from, to)"
        ),
    ] = None,
    tz: TzParam = None,
) -> Any:
    """Per room of a building over [from, to): count, mean, time-weighted mean, minimum and
    maximum with when they happened, the share of time below/above the comfort bounds, and the
    longest stretch without captures. `Accept: text/csv` (or `format=csv`) answers CSV.

    Comfort bounds are given in `unit`, or in °C when `unit` is absent (temperature types);
    the answer echoes them in the unit of the report.
    """
    settings = state.settings
    report = await service.building_report(
        conn,
        building,
        sensor_type=sensor_type,
        start=parse_time(from_, "from"),
        end=parse_time(to, "to"),
        unit=unit,
        comfort_low=comfort_low,
        comfort_high=comfort_high,
        default_comfort_celsius=(settings.comfort_low_celsius, settings.comfort_high_celsius),
        use_rollups=settings.rollup_reads,
        group_by=group_by,
        tz=tz,
        default_zone=settings.default_time_zone,
    )
    if _wants_csv(request, format):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        if report.periods is None:
            writer.writerow(CSV_COLUMNS)
            for room in report.rooms:
                row = asdict(room)
                writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
        else:  # one row per room and period, the period's bounds first
            writer.writerow(("start", "end", *CSV_COLUMNS))
            for room in report.rooms:
                for p in report.periods:
                    row = asdict(p.rooms[room.room])
                    bounds = (p.start.isoformat(), p.end.isoformat())
                    writer.writerow([*bounds, *(_cell(row[c]) for c in CSV_COLUMNS)])
        # A download, named after its subject like the export's (keys hold no quote or "/"),
        # with the JSON body's resolution and raw_from for CSV readers (docs/data-lifecycle.md).
        name = f"report_{report.building}_{report.sensor_type}"
        headers = {
            "Content-Disposition": f'attachment; filename="{name}.csv"',
            "X-Resolution": report.resolution,
        }
        if report.raw_from is not None:
            headers["X-Raw-From"] = report.raw_from.isoformat()
        return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
    if report.periods is not None:
        return json_response(
            GroupedReportOut(
                building=report.building,
                sensor_type=report.sensor_type,
                unit=report.unit,
                from_=report.start,
                to=report.end,
                comfort_low=report.comfort.low,
                comfort_high=report.comfort.high,
                resolution=report.resolution,
                raw_from=report.raw_from,
                group_by=group_by or "",
                time_zone=report.time_zone or "",
                rooms=[
                    GroupedRoomReportOut(
                        **asdict(r),
                        periods=[
                            PeriodReportOut(start=p.start, end=p.end, **_fields(p.rooms[r.room]))
                            for p in report.periods
                        ],
                    )
                    for r in report.rooms
                ],
            )
        )
    return json_response(
        BuildingReportOut(
            building=report.building,
            sensor_type=report.sensor_type,
            unit=report.unit,
            from_=report.start,
            to=report.end,
            comfort_low=report.comfort.low,
            comfort_high=report.comfort.high,
            resolution=report.resolution,
            raw_from=report.raw_from,
            rooms=[RoomReportOut(**asdict(r)) for r in report.rooms],
        )
    )
