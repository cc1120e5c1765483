"""Partition rules: one partition per month or day (UTC), created ahead, dropped after retention.

Naming: capture_pYYYYMM (month) and capture_pYYYYMMDD (day); the name is the range, so nothing
has to parse PostgreSQL's partition bound expressions. `capture_default` takes rows no partition
covers (ingest never fails); maintenance moves them into their own partition.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.partitions import queries
from roomtemp.rollup import service as rollups

Interval = Literal["month", "day"]
_NAME = re.compile(r"^capture_p(\d{4})(\d{2})(\d{2})?$")


@dataclass(frozen=True, order=True)
class Period:
    start: datetime
    end: datetime

    @property
    def name(self) -> str:
        if self.end - self.start == timedelta(days=1):
            return f"capture_p{self.start:%Y%m%d}"
        return f"capture_p{self.start:%Y%m}"

    def overlaps(self, other: Period) -> bool:
        return self.start < other.end and other.start < self.end


def period_of(ts: datetime, interval: Interval) -> Period:
    """The month or day (UTC) holding `ts`."""
    utc = ts.astimezone(UTC)
    if interval == "day":
        start = utc.replace(hour=0, minute=0, second=0, microsecond=0)
        return Period(start, start + timedelta(days=1))
    start = utc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return Period(start, end)


def period_from_name(name: str) -> Period | None:
    """The range of a partition this module named, or None for any other table."""
    match = _NAME.match(name)
    if match is None:
        return None
    year, month, day = int(match[1]), int(match[2]), match[3]
    if day is None:
        return period_of(datetime(year, month, 1, tzinfo=UTC), "month")
    return period_of(datetime(year, month, int(day), tzinfo=UTC), "day")


def retention_cutoff(now: datetime, retention_days: int | None) -> datetime | None:
    """Captures before this instant are past retention (None: keep everything)."""
    return None if retention_days is None else now - timedelta(days=retention_days)


@dataclass
class MaintainReport:
    created: list[tuple[str, int]] = field(default_factory=list)  # (partition, rows moved in)
    dropped: list[tuple[str, int]] = field(default_factory=list)  # (partition, rows dropped)
    expired_default_rows: int = 0
    # Per rollup level ('15m', '1h', '1d'): buckets dropped past that level's retention.
    expired_rollup_buckets: dict[str, int] = field(default_factory=dict)
    # Per level ('raw' and the rollup levels): the data before this instant is gone.
    horizons: dict[str, datetime] = field(default_factory=dict)
    kept: int = 0  # partitions left as they were
    comfort_recomputed: list[str] = field(default_factory=list)  # sensor types
    # (partition, bytes of its primary-key index before, after)
    compacted: list[tuple[str, int, int]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"created {n} (moved {m} rows from capture_default)" for n, m in self.created]
        out += [f"dropped {n} ({m} rows past retention)" for n, m in self.dropped]
        if self.expired_default_rows:
            out.append(f"deleted {self.expired_default_rows} expired rows from capture_default")
        out += [
            f"deleted {n} {level} rollup buckets past their retention"
            for level, n in self.expired_rollup_buckets.items()
            if n
        ]
        out += [f"{level} data kept from {at.isoformat()}" for level, at in self.horizons.items()]
        out += [
            f"comfort bounds of {key!r} set to the defaults; its rollups were recomputed"
            for key in self.comfort_recomputed
        ]
        out += [
            f"compacted the primary key of {n}: {before:,} -> {after:,} bytes"
            for n, before, after in self.compacted
        ]
        out.append(
            f"{len(self.created)} created, {len(self.dropped)} dropped, {self.kept} unchanged"
        )
        return out


async def _existing_partitions(conn: AsyncConnection) -> dict[str, Period]:
    existing: dict[str, Period] = {}
    for name in await queries.partition_names(conn):
        period = period_from_name(name)
        if period is not None:
            existing[name] = period
    return existing


def _day_start(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def _expire(
    conn: AsyncConnection,
    existing: dict[str, Period],
    cutoff: datetime,
    interval: Interval,
    report: MaintainReport,
) -> datetime:
    """Drop the partitions entirely before `cutoff` and the default partition's rows before the
    raw horizon; `existing` loses the dropped partitions. Returns the raw horizon: the start of
    the period holding `cutoff`, or the end of a dropped partition if later (partitions of the
    other interval), or the horizon stored before if later still. Always a UTC midnight, so a
    1-hour or 1-day piece lies wholly on one side of it. Rollups are left as they are."""
    horizon = period_of(cutoff, interval).start
    for name, period in sorted(existing.items(), key=lambda kv: kv[1]):
        if period.end <= cutoff:
            report.dropped.append((name, await queries.drop_partition(conn, name)))
            horizon = max(horizon, period.end)
            del existing[name]
    stored = (await queries.horizons(conn)).get("raw")
    if stored is not None:
        horizon = max(horizon, stored)
    report.expired_default_rows = await queries.delete_default_before(conn, horizon)
    await queries.record_horizon(conn, "raw", horizon)
    report.horizons["raw"] = horizon
    return horizon


async def _expire_rollups(
    conn: AsyncConnection,
    now: datetime,
    raw_horizon: datetime,
    retention_days: Mapping[str, int | None],
    report: MaintainReport,
) -> None:
    """Drop each rollup level's buckets past its own retention (whole UTC days), never where raw
    captures are kept (so never after `raw_horizon`), and record its horizon."""
    for level, days in retention_days.items():
        if days is None:
            continue
        horizon = min(_day_start(now - timedelta(days=days)), raw_horizon)
        stored = (await queries.horizons(conn)).get(level)
        if stored is not None and stored >= horizon:
            report.horizons[level] = stored
            continue
        report.expired_rollup_buckets[level] = await queries.delete_rollups_before(
            conn, level, horizon
        )
        await queries.record_horizon(conn, level, horizon)
        report.horizons[level] = horizon


async def _create_wanted(
    conn: AsyncConnection,
    now: datetime,
    *,
    interval: Interval,
    ahead: int,
    cutoff: datetime | None,
    existing: dict[str, Period],
    report: MaintainReport,
) -> None:
    """Create the current, the `ahead` next and the default rows' partitions not yet covered."""
    wanted = [period_of(now, interval)]
    for _ in range(ahead):
        wanted.append(period_of(wanted[-1].end, interval))
    wanted += [period_of(s, interval) for s in await queries.default_periods(conn, interval)]
    for period in sorted(set(wanted)):
        if cutoff is not None and period.end <= cutoff:
            continue
        if any(period.overlaps(p) for p in existing.values()):
            # Already covered (possibly by partitions of the other interval): leave it.
            continue
        moved = await queries.create_partition(conn, period.name, period.start, period.end)
        report.created.append((period.name, moved))
        existing[period.name] = period


async def maintain(
    conn: AsyncConnection,
    now: datetime,
    *,
    interval: Interval,
    ahead: int,
    retention_days: int | None,
    rollup_retention_days: Mapping[str, int | None] | None = None,
    comfort_celsius: tuple[float, float] | None = None,
) -> MaintainReport:
    """Create the current and `ahead` next partitions, give rows in the default their own
    partition, drop partitions entirely past retention and each rollup level's buckets past its
    own retention ({'15m': days, '1h': …, '1d': …}, None or missing: forever); with
    `comfort_celsius`, store those default comfort bounds on temperature sensor types whose
    rollups were counted for others (recomputing their rollups where raw captures are kept:
    ingest of those types waits meanwhile). Dropping raw captures changes no stored rollup.
    Idempotent; concurrent runs serialise on an advisory lock. The caller owns the transaction
    (all of it or nothing).
    """
    await queries.lock(conn)
    report = MaintainReport()
    cutoff = retention_cutoff(now, retention_days)
    existing = await _existing_partitions(conn)
    if cutoff is not None:
        raw_horizon = await _expire(conn, existing, cutoff, interval, report)
        await _expire_rollups(conn, now, raw_horizon, rollup_retention_days or {}, report)
    await _create_wanted(
        conn, now, interval=interval, ahead=ahead, cutoff=cutoff, existing=existing, report=report
    )
    report.kept = len(existing) - len(report.created)
    if comfort_celsius is not None:
        report.comfort_recomputed = await rollups.align_comfort(conn, *comfort_celsius)
    return report


async def compact(
    conn: AsyncConnection, now: datetime, after: timedelta
) -> list[tuple[str, int, int]]:
    """Rebuild the primary-key index of partitions that ended `after` ago with full pages.

    Captures arrive in time order across rooms, so each room's index pages split while a
    partition fills and stay about 70 % full. Once the partition's period is over (late data
    being rare), a rebuild at fillfactor 100 saves about 14 B per capture. The fillfactor left
    on the index marks it done; a late capture still goes in (a page splits). REINDEX
    CONCURRENTLY blocks no writes but cannot run in a transaction: `conn` must be in autocommit
    mode. Concurrent runs wait on the maintenance lock. The default partition is never compacted.
    """
    done: list[tuple[str, int, int]] = []
    await queries.session_lock(conn)
    try:
        for partition, index in await queries.uncompacted_primary_keys(conn):
            period = period_from_name(partition)
            if period is None or period.end > now - after:
                continue
            before = await queries.relation_size(conn, index)
            await queries.compact_primary_key(conn, index)
            done.append((partition, before, await queries.relation_size(conn, index)))
    finally:
        await queries.session_unlock(conn)
    return done
