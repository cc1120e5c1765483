"""TEMPORARY copy of service/roomtemp/timegrid.py from wt-zones (deleted when it is merged).

Pure functions (no I/O). Bucket edges are computed here with zoneinfo and handed to SQL as UTC
instants, so PostgreSQL never needs its own time zone data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from roomtemp.errors import ErrorDetail, InvalidInput

#: A bucket-mode series has at most this many buckets (else 422 on `step`).
MAX_BUCKETS = 10_000
DAY = timedelta(days=1)
_MINUTE = timedelta(minutes=1)

# Grafana's interval syntax: a whole number and a unit. M and y count as 30 and 365 days when
# compared (as Grafana does), but as buckets they are calendar months and years.
_UNITS: dict[str, timedelta] = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": _MINUTE,
    "h": timedelta(hours=1),
    "d": DAY,
    "w": timedelta(weeks=1),
    "M": timedelta(days=30),
    "y": timedelta(days=365),
}
_INTERVAL = re.compile(r"([0-9]{1,9})(ms|s|m|h|d|w|M|y)")
# Nothing longer than a century is a step of anything (and timedelta overflows near 2.7e6 y).
_MAX_INTERVAL = timedelta(days=100 * 366)
INTERVAL_PATTERN = r"^[0-9]{1,9}(ms|s|m|h|d|w|M|y)$"
INTERVAL_HELP = "a whole number and a unit: ms, s, m, h, d, w (7 d), M (month), y (year)"

Kind = Literal["fixed", "day", "week", "month", "year"]


@dataclass(frozen=True)
class Interval:
    """A parsed interval such as `7d` or `1M`, with the text it was given as."""

    count: int
    unit: str
    text: str

    @property
    def nominal(self) -> timedelta:
        """Its length for comparisons (a month 30 days, a year 365 days)."""
        return self.count * _UNITS[self.unit]

    @property
    def calendar(self) -> bool:
        """True for months and years, whose real length varies."""
        return self.unit in ("M", "y")


@dataclass(frozen=True)
class Step:
    """A bucket step of the ladder: its name (`1h`, `1d`, `1M`), kind, and the requested text."""

    name: str
    kind: Kind
    length: timedelta  # exact for "fixed"; nominal for the calendar kinds
    requested: str


_LADDER: tuple[tuple[str, Kind, timedelta], ...] = (
    *((f"{m}m", "fixed", timedelta(minutes=m)) for m in (1, 2, 5, 10, 15, 20, 30)),
    *((f"{h}h", "fixed", timedelta(hours=h)) for h in (1, 2, 3, 4, 6, 8, 12)),
    ("1d", "day", DAY),
    ("1w", "week", timedelta(weeks=1)),
    ("1M", "month", _UNITS["M"]),
    ("1y", "year", _UNITS["y"]),
)
LADDER: tuple[str, ...] = tuple(name for name, _, _ in _LADDER)


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"invalid parameter {field!r}: {message}", [ErrorDetail(message, field)])


def parse_interval(text: str, field: str = "step") -> Interval:
    """`500ms`, `10s`, `15m`, `2h`, `1d`, `1w`, `1M`, `1y` → Interval; InvalidInput naming
    `field` for anything else (no sign, no fraction, no spaces inside, not zero)."""
    stripped = text.strip()
    match = _INTERVAL.fullmatch(stripped)
    if match is None:
        raise _bad(field, f"{text!r} is not an interval; use {INTERVAL_HELP}, e.g. 15m or 1d")
    count = int(match[1])
    if count == 0:
        raise _bad(field, "must be longer than zero")
    interval = Interval(count, match[2], stripped)
    if interval.nominal > _MAX_INTERVAL:
        raise _bad(field, f"{stripped} is too long (at most 100 years)")
    return interval


def bucket_step(interval: Interval, field: str = "step") -> Step:
    """The shortest ladder step at least as long as `interval` (sub-minute → 1m, 7d → 1w,
    30d → 1M, 365d → 1y); InvalidInput when it is longer than a year."""
    wanted = interval.nominal
    for name, kind, length in _LADDER:
        if length >= wanted:
            return Step(name, kind, length, interval.text)
    raise _bad(field, f"{interval.text} is longer than the longest bucket step, 1y")


def rolling_step(interval: Interval, field: str = "step") -> timedelta:
    """The spacing of rolling windows: below a minute rounds up to 1 minute (longer ones up to
    whole seconds); months and years have no fixed length (mode=buckets has them)."""
    if interval.calendar:
        raise _bad(
            field,
            f"{interval.text}: months and years are calendar buckets; use mode=buckets, "
            "or a step in m, h, d or w",
        )
    second = timedelta(seconds=1)
    return max(_MINUTE, -(-interval.nominal // second) * second)


def rolling_window(interval: Interval, field: str = "window") -> timedelta:
    """A rolling window's length as given (the caller checks its bounds: below a minute is
    refused as before); months and years have no fixed length."""
    if interval.calendar:
        raise _bad(field, f"{interval.text}: a window has a fixed length; use m, h, d or w")
    return interval.nominal


@cache
def _zone_names() -> frozenset[str]:
    # Read once (it walks the zone directories); the answer does not change while running.
    return frozenset(available_timezones())


def zone(name: str, field: str = "tz") -> ZoneInfo:
    """The IANA time zone `name` (e.g. Europe/Zurich, UTC); InvalidInput naming `field` for
    anything else (POSIX TZ strings, file paths and unknown names are refused)."""
    if name not in _zone_names():
        raise _bad(field, f"{name!r} is not an IANA time zone name (e.g. Europe/Zurich, UTC)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # listed but unreadable: as unknown
        raise _bad(field, f"{name!r} is not an IANA time zone name") from None


def resolve_zone(requested: str | None, stored: str | None, default: str) -> ZoneInfo:
    """The zone of a read: the `tz` parameter, else the building's `time_zone`, else the
    DEFAULT_TIME_ZONE setting (each validated; a bad `tz` is a 422 on `tz`)."""
    if requested is not None:
        return zone(requested, "tz")
    return zone(stored or default, "time_zone")


def isoformat_local(ts: datetime, tz: ZoneInfo) -> str:
    """`ts` as RFC 3339 with the zone's offset at that instant: 2026-03-29T00:00:00+01:00."""
    return ts.astimezone(tz).isoformat()


# --- Bucket edges -----------------------------------------------------------------------------


def _local(u: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall time of the UTC instant `u`."""
    return u.astimezone(tz).replace(tzinfo=None)


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The first instant (UTC) of local day `day`: its midnight, or, where the zone skips
    midnight, the instant the clocks jump past it."""
    midnight = datetime(day.year, day.month, day.day)  # noqa: DTZ001 (a wall time on purpose)
    early = midnight.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _local(early, tz) == midnight:
        return early  # fold=0 is the first of two midnights where the clocks go back over it
    # Midnight is in a gap: find the first instant whose wall time is past it, to the second
    # (zone transitions fall on whole seconds). fold=1 reads the wall time with the offset after
    # the jump, so it lies before the jump; fold=0 lies after it.
    lo = midnight.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = early
    lo, hi = min(lo, hi), max(lo, hi)
    one = timedelta(seconds=1)
    while hi - lo > one:
        mid = lo + (hi - lo) // 2
        mid = mid.replace(microsecond=0)
        if _local(mid, tz) >= midnight:
            hi = mid
        else:
            lo = mid
    return hi


def _period_start(day: date, kind: Kind) -> date:
    if kind == "week":
        return day - timedelta(days=day.weekday())
    if kind == "month":
        return day.replace(day=1)
    if kind == "year":
        return day.replace(month=1, day=1)
    return day


def _next_period(day: date, kind: Kind) -> date:
    if kind == "week":
        return day + timedelta(weeks=1)
    if kind == "month":
        return date(day.year + day.month // 12, day.month % 12 + 1, 1)
    if kind == "year":
        return date(day.year + 1, 1, 1)
    return day + timedelta(days=1)


def _previous_period(day: date, kind: Kind) -> date:
    return _period_start(day - timedelta(days=1), kind)


def _sub_day_edges(
    d0: datetime, d1: datetime, day: date, step: timedelta, tz: ZoneInfo
) -> list[datetime]:
    """Edges in local day [d0, d1): its first instant and every instant whose wall time is a
    multiple of `step` since local midnight (both instants of a repeated wall time; none of a
    skipped one)."""
    offset = d0.astimezone(tz).utcoffset()
    if d1 - d0 == DAY and offset == (d1 - _MINUTE).astimezone(tz).utcoffset():
        # No offset change in the day (the common case): plain arithmetic.
        return [d0 + k * step for k in range(DAY // step)]
    midnight = datetime(day.year, day.month, day.day)  # noqa: DTZ001 (a wall time on purpose)
    found = {d0}
    for k in range(DAY // step):
        wall = midnight + k * step
        for fold in (0, 1):
            u = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
            if d0 <= u < d1 and _local(u, tz) == wall:
                found.add(u)
    return sorted(found)


def _too_many(count: int) -> InvalidInput:
    return _bad(
        "step",
        f"the range holds more than {count:,} buckets at this step; "
        "use a longer step or a shorter range",
    )


def bucket_edges(
    start: datetime,
    end: datetime,
    step: Step,
    tz: ZoneInfo,
    *,
    max_buckets: int = MAX_BUCKETS,
) -> list[datetime]:
    """UTC edges e0 < e1 < … < en of the whole buckets covering [start, end): e0 <= start < e1,
    e(n-1) < end <= en. Buckets of a day or longer start at local midnight (Mondays, 1sts,
    January 1sts); shorter steps divide the day and start where the local wall time is a
    multiple of the step (and at each local day's start). InvalidInput (field `step`) beyond
    `max_buckets` buckets."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("bucket_edges needs aware datetimes")
    if end <= start:
        raise _bad("to", "must be after 'from'")
    try:
        return _bucket_edges(start.astimezone(UTC), end.astimezone(UTC), step, tz, max_buckets)
    except (OverflowError, ValueError):
        # A bucket that would end after the year 9999 (datetime's last): not a range anyone
        # means, and not worth a 500.
        raise _bad("to", "the buckets of this range reach beyond the year 9999") from None


def _bucket_edges(
    start: datetime, end: datetime, step: Step, tz: ZoneInfo, max_buckets: int
) -> list[datetime]:
    kind: Kind = "day" if step.kind == "fixed" else step.kind
    # The period holding `start`: its local date's period, corrected for zones whose clocks go
    # back over midnight (the local date then runs backwards for a while).
    period = _period_start(_local(start, tz).date(), kind)
    while day_start(period, tz) > start:
        period = _previous_period(period, kind)
    while day_start(_next_period(period, kind), tz) <= start:
        period = _next_period(period, kind)
    edges: list[datetime] = []
    begin = day_start(period, tz)
    while True:
        following = _next_period(period, kind)
        finish = day_start(following, tz)
        if step.kind == "fixed":
            edges.extend(_sub_day_edges(begin, finish, period, step.length, tz))
        else:
            edges.append(begin)
        if finish >= end:
            break
        # Stop early on a range far too long (the first day may hold edges before `start`).
        if len(edges) > max_buckets + 1 + DAY // _MINUTE:
            raise _too_many(max_buckets)
        period, begin = following, finish
    edges.append(finish)
    return _trim(edges, start, end, max_buckets)


def _trim(edges: list[datetime], start: datetime, end: datetime, limit: int) -> list[datetime]:
    """The edges of the whole buckets covering [start, end) out of a superset of them."""
    first = max(i for i, e in enumerate(edges) if e <= start)
    last = next(i for i, e in enumerate(edges) if e >= end and i > first)
    kept = edges[first : last + 1]
    if len(kept) - 1 > limit:
        raise _too_many(limit)
    return kept
