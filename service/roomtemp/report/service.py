"""Report rules: the period [from, to), comfort bounds in the caller's unit, the stretch before
the first capture (held by the last earlier value, as the rolling windows do), longest gaps."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp import timegrid, units
from roomtemp.average.service import Scale, scale_for
from roomtemp.errors import ErrorDetail, InvalidInput
from roomtemp.registry import service as registry
from roomtemp.report import queries
from roomtemp.report.queries import PeriodQuery, RoomPeriodRow
from roomtemp.rollup import service as rollups
from roomtemp.timefmt import EPOCH

MAX_PERIOD = timedelta(days=400)
#: group_by -> the calendar step of its local periods.
GROUPS = {"day": "1d", "week": "1w", "month": "1M"}


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
    sensors: int


@dataclass(frozen=True)
class Period:
    """One local day, week or month of a grouped report: each room's report over [start, end)."""

    start: datetime  # with the zone's offset
    end: datetime
    rooms: dict[str, RoomReport]


@dataclass(frozen=True)
class BuildingReport:
    building: str
    sensor_type: str
    unit: str
    start: datetime
    end: datetime
    comfort: Comfort
    rooms: list[RoomReport]
    periods: list[Period] | None = None  # with group_by
    time_zone: str | None = None  # with group_by
    resolution: str = rollups.RAW  # raw, 1h or 1d: what the report was computed from
    raw_from: datetime | None = None  # raw captures are kept from here (None: all kept)


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"invalid parameter {field!r}: {message}", [ErrorDetail(message, field)])


def bounds_unit(canonical: str, unit: str | None) -> str:
    """The unit of bare bound parameters: `unit` when given, else °C for temperature types,
    else the canonical unit (the only one such a type has)."""
    if unit is not None:
        return units.normalise(unit)
    return units.CELSIUS if canonical in units.TEMPERATURE_UNITS else canonical


def _at(epoch: float | None) -> datetime | None:
    return None if epoch is None else EPOCH + timedelta(seconds=epoch)


@dataclass(frozen=True)
class _SensorPart:
    """One sensor's share of a room report, canonical values (see room_report)."""

    count: int
    mean: float | None
    min: tuple[float, float] | None  # (value, epoch)
    max: tuple[float, float] | None  # (value, -epoch): max picks the earliest of ties
    twm: float | None
    below: float | None
    above: float | None
    gap: tuple[float, float]  # (seconds, -epoch of its start)


def _sensor_part(row: RoomPeriodRow, *, start: datetime, low: float, high: float) -> _SensorPart:
    """Combine one sensor's SQL aggregates with its carried-in stretch."""
    carried, carry = row.carried, row.carry_seconds
    held = row.held_seconds or 0.0
    weighted = row.held_value_seconds or 0.0
    below, above = row.held_below or 0.0, row.held_above or 0.0
    if carried is not None:
        held += carry
        weighted += carried * carry
        below += carry if carried < low else 0.0
        above += carry if carried > high else 0.0
    start_at = (start - EPOCH).total_seconds()
    lead = (row.lead_seconds, -start_at)
    gap = lead
    if row.count and row.gap_seconds is not None and row.gap_start is not None:
        gap = max(lead, (row.gap_seconds, -row.gap_start))
    return _SensorPart(
        count=row.count,
        mean=row.mean,
        min=None if row.min is None or row.min_at is None else (row.min, row.min_at),
        max=None if row.max is None or row.max_at is None else (row.max, -row.max_at),
        twm=weighted / held if held > 0 else None,
        below=below / held if held > 0 else None,
        above=above / held if held > 0 else None,
        gap=gap,
    )


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def room_report(
    room: str,
    rows: list[RoomPeriodRow],
    *,
    start: datetime,
    end: datetime,
    low: float,
    high: float,
    scale: Scale,
    with_shares: bool,
) -> RoomReport:
    """Pool the room's sensors: count, mean, min and max over all their captures; the
    time-weighted mean and the shares below/above comfort are plain means of each sensor's own
    (sensors whose held time is 0 left out); the longest gap is the longest any sensor with
    captures in the period went without one (the whole period when none has)."""
    parts = [_sensor_part(r, start=start, low=low, high=high) for r in rows]
    active = [p for p in parts if p.count]
    count = sum(p.count for p in active)
    mean = (
        math.fsum(p.mean * p.count for p in active if p.mean is not None) / count if count else None
    )
    lo = min((p.min for p in active if p.min is not None), default=None)
    hi = max((p.max for p in active if p.max is not None), default=None)
    gap = max((p.gap for p in active), default=((end - start).total_seconds(), -_epoch(start)))
    return RoomReport(
        room=room,
        count=count,
        mean=scale.value(mean),
        time_weighted_mean=scale.value(_mean([p.twm for p in parts if p.twm is not None])),
        min=scale.value(None if lo is None else lo[0]),
        min_ts=None if lo is None else _at(lo[1]),
        max=scale.value(None if hi is None else hi[0]),
        max_ts=None if hi is None else _at(-hi[1]),
        share_below=_mean([p.below for p in parts if p.below is not None]) if with_shares else None,
        share_above=_mean([p.above for p in parts if p.above is not None]) if with_shares else None,
        longest_gap_seconds=gap[0],
        longest_gap_start=_at(-gap[1]) or start,
        sensors=len(active),
    )


def _epoch(t: datetime) -> float:
    return (t - EPOCH).total_seconds()


def _by_room(rows: list[RoomPeriodRow]) -> list[tuple[str, list[RoomPeriodRow]]]:
    """Rows (ordered by room) grouped per room; a room without sensors gets no rows."""
    out: list[tuple[str, list[RoomPeriodRow]]] = []
    for r in rows:
        if not out or out[-1][0] != r.room:
            out.append((r.room, []))
        if r.sensor_id is not None:
            out[-1][1].append(r)
    return out


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
    group_by: str | None = None,
    tz: str | None = None,
    default_zone: str = "UTC",
) -> BuildingReport:
    """The report of every room of a building over [start, end); with `group_by` (day, week,
    month) also each room's report per local period, whole periods covering [start, end), in
    the zone `tz`, else the building's, else `default_zone`.

    Read from the 1-day/1-hour rollups (raw captures only at the edges) when their seconds
    below/above comfort were counted for the bounds asked (or no shares are asked); otherwise,
    or without `use_rollups`, from the raw captures of the period (slower: one pass over all).
    """
    _check_period(start, end)
    if group_by is None and tz is not None:
        raise _bad("tz", "applies with group_by only")
    if tz is not None:
        timegrid.zone(tz, "tz")  # a bad tz is a 422 before a 404
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
    whole = [start.astimezone(UTC), end.astimezone(UTC)]
    local, edges = _group_edges(b, group_by, tz, default_zone, start, end)
    kept = await rollups.horizons(conn)
    # Where raw captures were dropped only whole pieces can answer (finer is refused).
    resolution = rollups.resolution(sorted({*whole, *edges}), kept, field="from")
    from_rollups = await _from_rollups(
        conn,
        st,
        resolution,
        kept,
        start=start,
        bounds=(low, high) if with_shares else None,
        unit=scale.unit,
        allowed=use_rollups,
    )
    reader = _Reader(conn, b.id, st.id, low, high, scale, with_shares, from_rollups, kept.raw)
    periods = None
    zone_name = None
    if local is not None:
        zone_name = local.key
        # One statement for every period, however many (not one per period).
        per_period = await reader(edges)
        periods = [
            Period(a.astimezone(local), z.astimezone(local), {r.room: r for r in rooms})
            for (a, z), rooms in zip(itertools.pairwise(edges), per_period, strict=True)
        ]
    [rooms] = await reader(whole)
    return BuildingReport(
        building=b.key,
        sensor_type=st.key,
        unit=scale.unit,
        start=start,
        end=end,
        comfort=comfort,
        rooms=rooms,
        periods=periods,
        time_zone=zone_name,
        resolution=resolution,
        raw_from=kept.raw,
    )


def _group_edges(
    b: registry.BuildingRow,
    group_by: str | None,
    tz: str | None,
    default_zone: str,
    start: datetime,
    end: datetime,
) -> tuple[ZoneInfo | None, list[datetime]]:
    """The zone and edges (UTC) of the local periods of `group_by` covering [start, end)."""
    if group_by is None:
        return None, []
    local = registry.zone_for(b, tz, default_zone)
    step = timegrid.bucket_step(timegrid.parse_interval(GROUPS[group_by]))
    return local, timegrid.bucket_edges(start, end, step, local)


async def _from_rollups(
    conn: AsyncConnection,
    st: registry.SensorTypeRow,
    resolution: str,
    kept: rollups.Horizons,
    *,
    start: datetime,
    bounds: tuple[float, float] | None,
    unit: str,
    allowed: bool,
) -> bool:
    """Whether the report reads the pieces: when `allowed` and their comfort seconds were
    counted for `bounds` (None: no shares asked; checked again in the report statement itself,
    same snapshot as the pieces), and always where raw captures were dropped, refusing there
    shares the pieces were not counted for."""
    stored = await rollups.comfort_kept(conn, st.id) if bounds is not None else None
    valid = bounds is None or (stored is not None and stored[:2] == bounds)
    if resolution == rollups.RAW:
        return allowed and valid
    _check_comfort_kept(valid, stored, start, kept, unit, st.unit)
    return True


def _check_comfort_kept(
    valid: bool,
    stored: tuple[float | None, float | None, datetime | None] | None,
    start: datetime,
    kept: rollups.Horizons,
    unit: str,
    canonical: str,
) -> None:
    """Before the raw horizon the shares below/above comfort come from the pieces only: refuse
    bounds they were not counted for, or a start before they were recounted for the current
    bounds (a comfort change recomputes only where raw captures are kept)."""
    assert kept.raw is not None
    if stored is None:
        return
    low, high, counted_from = stored
    if counted_from is not None and start < counted_from:
        raise rollups.refuse(
            "from",
            f"the comfort bounds changed after raw captures before {kept.raw.isoformat()} were "
            f"dropped: shares below/above are kept from {counted_from.isoformat()} only; start "
            "there, or leave out the shares (comfort_low/comfort_high) for earlier ranges",
        )
    if not valid:
        shown = [
            "none" if b is None else f"{units.convert(b, canonical, unit):g} {unit}"
            for b in (low, high)
        ]
        raise rollups.refuse(
            "comfort_low",
            f"raw captures are kept from {kept.raw.isoformat()}; before that the shares "
            f"below/above comfort are kept for the stored bounds only ({shown[0]} to "
            f"{shown[1]}): ask those, or a start at or after {kept.raw.isoformat()}",
        )


@dataclass(frozen=True)
class _Reader:
    """Reads every room's report over each period between `edges`, from the rollups when
    `from_rollups` (and the statement finds them counted for the bounds), else from the raw
    captures: one statement either way."""

    conn: AsyncConnection
    building_id: int
    sensor_type_id: int
    low: float
    high: float
    scale: Scale
    with_shares: bool
    from_rollups: bool
    raw_from: datetime | None = None

    async def __call__(self, edges: list[datetime]) -> list[list[RoomReport]]:
        q = PeriodQuery(self.building_id, self.sensor_type_id, edges, self.low, self.high)
        rows = None
        if self.from_rollups:
            rows = await queries.select_room_periods(
                self.conn, q, rollups=True, with_shares=self.with_shares, raw_from=self.raw_from
            )
        if rows is None and self.raw_from is not None and edges[0] < self.raw_from:
            # The bounds changed between the check and the statement; raw captures are gone.
            raise rollups.refuse("comfort_low", "the comfort bounds changed meanwhile: ask again")
        if rows is None:
            rows = await queries.select_room_periods(self.conn, q)
            assert rows is not None  # the raw statement always answers
        by_period: list[list[RoomPeriodRow]] = [[] for _ in edges[1:]]
        for r in rows:
            by_period[r.period - 1].append(r)
        return [
            [
                room_report(
                    room,
                    parts,
                    start=a,
                    end=z,
                    low=self.low,
                    high=self.high,
                    scale=self.scale,
                    with_shares=self.with_shares,
                )
                for room, parts in _by_room(period_rows)
            ]
            for (a, z), period_rows in zip(itertools.pairwise(edges), by_period, strict=True)
        ]
