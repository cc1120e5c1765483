"""Report rules: the period [from, to), comfort bounds in the caller's unit, the stretch before
the first capture (held by the last earlier value, as the rolling windows do), longest gaps."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp import units
from roomtemp.average.service import Scale, scale_for
from roomtemp.errors import ErrorDetail, InvalidInput
from roomtemp.registry import service as registry
from roomtemp.report import queries
from roomtemp.report.queries import Layout, PeriodQuery, RoomPeriodRow
from roomtemp.rollup import service as rollups
from roomtemp.timefmt import EPOCH

MAX_PERIOD = timedelta(days=400)


@dataclass(frozen=True)
class Comfort:
    """Bounds in the unit of the report; None when the sensor type has no default."""

    low: float | None
    high: float | None


@dataclass(frozen=True)
class RoomReport:
    room: str
    count: int
    mean: float | None
    time_weighted_mean: float | None
    min: float | None
    min_ts: datetime | None
    max: float | None
    max_ts: datetime | None
    share_below: float | None
    share_above: float | None
    longest_gap_seconds: float
    longest_gap_start: datetime


@dataclass(frozen=True)
class BuildingReport:
    building: str
    sensor_type: str
    unit: str
    start: datetime
    end: datetime
    comfort: Comfort
    rooms: list[RoomReport]


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"invalid parameter {field!r}: {message}", [ErrorDetail(message, field)])


def bounds_unit(canonical: str, unit: str | None) -> str:
    """The unit of bare bound parameters: `unit` when given, else °C for temperature types,
    else the canonical unit (the only one such a type has)."""
    if unit is not None:
        return units.normalise(unit)
    return units.CELSIUS if canonical in units.TEMPERATURE_UNITS else canonical


def _floor(ts: datetime, stride: timedelta) -> datetime:
    return EPOCH + (ts - EPOCH) // stride * stride


def layout(start: datetime, end: datetime) -> Layout:
    """Split [start, end) into raw edges and whole 1-hour and 1-day buckets (see Layout)."""
    hour, day, tick = timedelta(hours=1), timedelta(days=1), timedelta(microseconds=1)
    h0 = _floor(start - tick, hour) + hour  # the first hour edge at or after start
    h1 = _floor(end - tick, hour)  # the last hour edge before end
    if h1 <= h0:
        return Layout(start, start, start, start)  # all raw
    d0 = _floor(start - tick, day) + day
    d1 = _floor(end - tick, day)
    if d1 <= d0:
        d0 = d1 = h1  # hours only
    return Layout(h0, d0, d1, h1)


def _at(epoch: float | None) -> datetime | None:
    return None if epoch is None else EPOCH + timedelta(seconds=epoch)


def room_report(
    row: RoomPeriodRow,
    *,
    start: datetime,
    end: datetime,
    low: float,
    high: float,
    scale: Scale,
    with_shares: bool,
) -> RoomReport:
    """Combine the SQL aggregates with the carried-in stretch; values still canonical in `row`."""
    carried, lead = row.carried, row.lead_seconds
    held = row.held_seconds or 0.0
    weighted = row.held_value_seconds or 0.0
    below, above = row.held_below or 0.0, row.held_above or 0.0
    if carried is not None:
        held += lead
        weighted += carried * lead
        below += lead if carried < low else 0.0
        above += lead if carried > high else 0.0
    twm = weighted / held if held > 0 else None
    if row.count == 0 or row.gap_seconds is None or lead >= row.gap_seconds:
        gap, gap_start = lead, start
    else:
        gap, gap_start = row.gap_seconds, _at(row.gap_start) or start
    return RoomReport(
        room=row.room,
        count=row.count,
        mean=scale.value(row.mean),
        time_weighted_mean=scale.value(twm),
        min=scale.value(row.min),
        min_ts=_at(row.min_at),
        max=scale.value(row.max),
        max_ts=_at(row.max_at),
        share_below=below / held if with_shares and held > 0 else None,
        share_above=above / held if with_shares and held > 0 else None,
        longest_gap_seconds=gap,
        longest_gap_start=gap_start,
    )


def _check_period(start: datetime, end: datetime) -> None:
    if end <= start:
        raise _bad("to", "must be after 'from'")
    if end - start > MAX_PERIOD:
        raise _bad("to", f"a report covers at most {MAX_PERIOD.days} days")


async def building_report(
    conn: AsyncConnection,
    building: str,
    *,
    sensor_type: str,
    start: datetime,
    end: datetime,
    unit: str | None,
    comfort_low: float | None,
    comfort_high: float | None,
    default_comfort_celsius: tuple[float, float],
    use_rollups: bool = True,
) -> BuildingReport:
    """The report of every room of a building over [start, end).

    Read from the 1-day/1-hour rollups (raw captures only at the edges) when their seconds
    below/above comfort were counted for the bounds asked (or no shares are asked); otherwise,
    or without `use_rollups`, from the raw captures of the period (slower: one pass over all).
    """
    _check_period(start, end)
    b = await registry.get_building(conn, building)
    st = await registry.sensor_type_for_query(conn, sensor_type)
    scale = scale_for(st, unit)
    # Bounds are compared with stored (canonical) values. They are given in `unit`; without
    # one, in °C for temperature types (like the COMFORT_*_CELSIUS defaults), never silently in
    # the canonical kelvin. Defaults convert straight from celsius, so they equal the bounds
    # the rollups were counted for (no unit round trip).
    given_in = bounds_unit(st.unit, unit)
    low = units.convert(comfort_low, given_in, st.unit) if comfort_low is not None else -math.inf
    high = units.convert(comfort_high, given_in, st.unit) if comfort_high is not None else math.inf
    if comfort_low is not None:
        comfort_low = units.convert(comfort_low, given_in, scale.unit)
    if comfort_high is not None:
        comfort_high = units.convert(comfort_high, given_in, scale.unit)
    if st.unit in units.TEMPERATURE_UNITS:
        low_c, high_c = default_comfort_celsius
        if comfort_low is None:
            comfort_low = units.convert(low_c, units.CELSIUS, scale.unit)
            low = units.convert(low_c, units.CELSIUS, st.unit)
        if comfort_high is None:
            comfort_high = units.convert(high_c, units.CELSIUS, scale.unit)
            high = units.convert(high_c, units.CELSIUS, st.unit)
    comfort = Comfort(comfort_low, comfort_high)
    with_shares = comfort_low is not None and comfort_high is not None
    if with_shares and not comfort_low <= comfort_high:  # type: ignore[operator]
        raise _bad("comfort_low", "must not be above comfort_high")
    rows = None
    period = PeriodQuery(b.id, st.id, start, end, low, high)
    # Checked again in the report statement itself (same snapshot as the rollups it reads).
    if use_rollups and (
        not with_shares or await rollups.comfort_bounds(conn, st.id) == (low, high)
    ):
        rows = await queries.select_room_periods_from_rollups(
            conn, period, layout(start, end), with_shares
        )
    if rows is None:
        rows = await queries.select_room_periods(conn, period)
    return BuildingReport(
        building=b.key,
        sensor_type=st.key,
        unit=scale.unit,
        start=start,
        end=end,
        comfort=comfort,
        rooms=[
            room_report(
                r, start=start, end=end, low=low, high=high, scale=scale, with_shares=with_shares
            )
            for r in rows
        ],
    )
