"""timegrid: interval syntax, the step ladder, zones, and bucket edges checked minute by minute
against an independent reference (each minute of a year classified by datetime.astimezone)."""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest

from roomtemp.errors import InvalidInput
from roomtemp.timegrid import (
    LADDER,
    MAX_BUCKETS,
    Step,
    bucket_edges,
    bucket_step,
    isoformat_local,
    parse_interval,
    resolve_zone,
    rolling_step,
    rolling_window,
    zone,
)

MINUTE = timedelta(minutes=1)

# --- Parsing and rounding ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bucket", "rolling"),
    [
        ("500ms", "1m", timedelta(minutes=1)),
        ("10s", "1m", timedelta(minutes=1)),
        ("1m", "1m", timedelta(minutes=1)),
        ("90s", "2m", timedelta(seconds=90)),
        ("3m", "5m", timedelta(minutes=3)),
        ("15m", "15m", timedelta(minutes=15)),
        ("45m", "1h", timedelta(minutes=45)),
        ("2h", "2h", timedelta(hours=2)),
        ("5h", "6h", timedelta(hours=5)),
        ("13h", "1d", timedelta(hours=13)),
        ("1d", "1d", timedelta(days=1)),
        ("2d", "1w", timedelta(days=2)),
        ("7d", "1w", timedelta(days=7)),
        ("1w", "1w", timedelta(days=7)),
        ("8d", "1M", timedelta(days=8)),
        ("30d", "1M", timedelta(days=30)),
        ("31d", "1y", timedelta(days=31)),
        ("365d", "1y", timedelta(days=365)),
        (" 1h ", "1h", timedelta(hours=1)),
    ],
)
def test_steps_round_up_to_the_ladder(text: str, bucket: str, rolling: timedelta) -> None:
    interval = parse_interval(text)
    step = bucket_step(interval)
    assert step.name == bucket
    assert step.requested == text.strip()
    assert step.length >= interval.nominal
    assert rolling_step(interval) == rolling


@pytest.mark.parametrize(("text", "name", "kind"), [("1M", "1M", "month"), ("1y", "1y", "year")])
def test_calendar_steps_are_buckets_only(text: str, name: str, kind: str) -> None:
    step = bucket_step(parse_interval(text))
    assert (step.name, step.kind) == (name, kind)
    with pytest.raises(InvalidInput, match="mode=buckets") as err:
        rolling_step(parse_interval(text), "step")
    assert err.value.details[0].field == "step"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("garbage", "not an interval"),
        ("", "not an interval"),
        ("0s", "longer than zero"),
        ("0m", "longer than zero"),
        ("-5m", "not an interval"),
        ("1.5h", "not an interval"),
        ("15 m", "not an interval"),
        ("15min", "not an interval"),
        ("1H", "not an interval"),
        ("1Y", "not an interval"),
        ("999999999y", "too long"),
        ("9999999999s", "not an interval"),
        ("101y", "too long"),
    ],
)
def test_bad_intervals_are_refused_with_the_field(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as err:
        parse_interval(text, "window")
    assert [d.field for d in err.value.details] == ["window"]


@pytest.mark.parametrize("text", ["2y", "13M", "400d", "60w"])
def test_longer_than_a_year_is_no_bucket_step(text: str) -> None:
    with pytest.raises(InvalidInput, match="longest bucket step") as err:
        bucket_step(parse_interval(text))
    assert err.value.details[0].field == "step"


def test_the_ladder_is_the_designed_one() -> None:
    designed = (
        *("1m", "2m", "5m", "10m", "15m", "20m", "30m"),
        *("1h", "2h", "3h", "4h", "6h", "8h", "12h"),
        *("1d", "1w", "1M", "1y"),
    )
    assert designed == LADDER
    for name in LADDER:  # every sub-day step divides the day
        step = bucket_step(parse_interval(name))
        assert step.name == name
        if step.kind == "fixed":
            assert timedelta(days=1) % step.length == timedelta(0)


# --- Zones ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["UTC", "Europe/Zurich", "Asia/Kathmandu", "America/New_York"])
def test_iana_zones_are_accepted(name: str) -> None:
    assert zone(name) == ZoneInfo(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Mars/Olympus",
        "europe/zurich",
        "CET-1CEST,M3.5.0,M10.5.0/3",  # a POSIX TZ string
        "/etc/localtime",
        "../../../../etc/passwd",
        "Europe/../Europe/Zurich",
        "Europe/Zurich\x00",
        "+01:00",
    ],
)
def test_other_zone_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="IANA") as err:
        zone(name, "time_zone")
    assert [d.field for d in err.value.details] == ["time_zone"]


def test_isoformat_local_gives_the_offset_of_the_instant() -> None:
    zurich = zone("Europe/Zurich")
    assert isoformat_local(datetime(2026, 3, 28, 23, tzinfo=UTC), zurich) == (
        "2026-03-29T00:00:00+01:00"
    )
    assert isoformat_local(datetime(2026, 3, 29, 22, tzinfo=UTC), zurich) == (
        "2026-03-30T00:00:00+02:00"
    )
    assert isoformat_local(datetime(2026, 1, 1, 18, 15, tzinfo=UTC), zone("Asia/Kathmandu")) == (
        "2026-01-02T00:00:00+05:45"
    )
    assert isoformat_local(datetime(2026, 1, 1, tzinfo=UTC), zone("UTC")) == (
        "2026-01-01T00:00:00+00:00"
    )


# --- Bucket edges against the reference --------------------------------------------------------


@dataclass(frozen=True)
class Minutes:
    """Every UTC minute of a span with its local wall time classified by astimezone."""

    first: datetime
    minute_of_day: list[int]
    new_day: list[bool]  # the local date differs from the previous minute's
    weekday: list[int]
    day: list[int]
    month: list[int]

    def instant(self, i: int) -> datetime:
        return self.first + i * MINUTE


@cache
def minutes_of(name: str, year: int) -> Minutes:
    tz = ZoneInfo(name)
    first = datetime(year - 1, 12, 30, tzinfo=UTC)
    count = (datetime(year + 1, 1, 3, tzinfo=UTC) - first) // MINUTE
    mod: list[int] = []
    new_day: list[bool] = []
    weekday: list[int] = []
    day: list[int] = []
    month: list[int] = []
    previous: date | None = None
    for i in range(count):
        u = first + i * MINUTE
        local = u.astimezone(tz)
        d = local.date()
        mod.append(local.hour * 60 + local.minute)
        new_day.append(previous is not None and d != previous)
        weekday.append(d.weekday())
        day.append(d.day)
        month.append(d.month)
        previous = d
    return Minutes(first, mod, new_day, weekday, day, month)


def reference_edges(m: Minutes, step: Step) -> list[datetime]:
    """Edges by definition: a local day starts, and (sub-day steps) the wall time is a multiple
    of the step since local midnight; weeks on Mondays, months on the 1st, years on January 1."""
    n = range(len(m.minute_of_day))
    if step.kind == "fixed":
        size = step.length // MINUTE
        pairs = enumerate(zip(m.new_day, m.minute_of_day, strict=True))
        picked = [i for i, (new, mod) in pairs if i > 0 and (new or mod % size == 0)]
    elif step.kind == "day":
        picked = [i for i in n if m.new_day[i]]
    elif step.kind == "week":
        picked = [i for i in n if m.new_day[i] and m.weekday[i] == 0]
    elif step.kind == "month":
        picked = [i for i in n if m.new_day[i] and m.day[i] == 1]
    else:
        picked = [i for i in n if m.new_day[i] and m.day[i] == 1 and m.month[i] == 1]
    return [m.instant(i) for i in picked]


ZONES = ["Europe/Zurich", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "UTC"]
# 2026: both DST changes in Zurich and New York. Kathmandu 1986: its offset moved from +05:30 to
# +05:45 at local midnight of January 1st, a day that starts at 00:15.
CASES = [(z, 2026) for z in ZONES] + [("Asia/Kathmandu", 1986)]


@pytest.mark.parametrize(("name", "year"), CASES)
def test_every_edge_of_a_year_matches_the_reference(name: str, year: int) -> None:
    m = minutes_of(name, year)
    tz = zone(name)
    rng = random.Random(f"{name}{year}")
    for step_name in LADDER:
        step = bucket_step(parse_interval(step_name))
        expected = reference_edges(m, step)
        assert len(expected) >= 2
        got = bucket_edges(expected[0], expected[-1], step, tz, max_buckets=10**6)
        assert got == expected, step_name
        # Ranges that start and end anywhere get the whole buckets covering them.
        checked = 0
        for _ in range(20):
            # Up to 3 days for sub-day steps, 40 days else.
            a = rng.randrange(len(m.minute_of_day))
            b = a + rng.randrange(0, (3 if step.kind == "fixed" else 40) * 1440)
            start = m.instant(a) + timedelta(microseconds=rng.randrange(60_000_000))
            end = m.instant(b) + timedelta(microseconds=rng.randrange(1, 60_000_000))
            if start < expected[0] or end > expected[-1]:
                continue
            first = bisect_right(expected, start) - 1
            last = bisect_left(expected, end)
            got = bucket_edges(start, end, step, tz, max_buckets=10**6)
            assert got == expected[first : last + 1], (step_name, start, end)
            assert got[0] <= start < got[1]
            assert got[-2] < end <= got[-1]
            checked += 1
        assert checked >= 5, step_name


def test_dst_days_and_repeated_hours() -> None:
    zurich = zone("Europe/Zurich")
    day = bucket_step(parse_interval("1d"))
    spring = bucket_edges(
        datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 3, 30, 1, tzinfo=UTC), day, zurich
    )
    assert [isoformat_local(e, zurich) for e in spring] == [
        "2026-03-29T00:00:00+01:00",
        "2026-03-30T00:00:00+02:00",
        "2026-03-31T00:00:00+02:00",
    ]
    assert spring[1] - spring[0] == timedelta(hours=23)
    hour = bucket_step(parse_interval("1h"))
    autumn = bucket_edges(
        datetime(2026, 10, 25, 0, tzinfo=UTC), datetime(2026, 10, 25, 2, tzinfo=UTC), hour, zurich
    )
    # 02:00 happens twice: two one-hour buckets start at 02:00, one per offset.
    assert [isoformat_local(e, zurich) for e in autumn] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]
    kathmandu = bucket_edges(
        datetime(2026, 1, 1, 0, tzinfo=UTC),
        datetime(2026, 1, 1, 2, tzinfo=UTC),
        hour,
        zone("Asia/Kathmandu"),
    )
    assert [e.minute for e in kathmandu] == [15, 15, 15, 15]  # hh:15 UTC, from 23:15 to 02:15
    quarter = bucket_step(parse_interval("15m"))
    for name in ZONES:
        edges = bucket_edges(
            datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC), quarter, zone(name)
        )
        assert all(e.minute % 15 == 0 and e.second == 0 for e in edges)


def test_too_many_buckets_is_a_step_error() -> None:
    minute = bucket_step(parse_interval("1m"))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    edges = bucket_edges(start, start + MAX_BUCKETS * MINUTE, minute, zone("UTC"))
    assert len(edges) == MAX_BUCKETS + 1
    with pytest.raises(InvalidInput, match="buckets") as err:
        bucket_edges(start, start + (MAX_BUCKETS + 1) * MINUTE, minute, zone("UTC"))
    assert err.value.details[0].field == "step"
    with pytest.raises(InvalidInput, match="buckets"):  # refused early, not after years of work
        bucket_edges(start, datetime(9999, 1, 1, tzinfo=UTC), minute, zone("UTC"))


def test_an_empty_range_is_refused() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput) as err:
        bucket_edges(at, at, bucket_step(parse_interval("1h")), zone("UTC"))
    assert err.value.details[0].field == "to"


def test_buckets_past_the_year_9999_are_a_422_not_a_crash() -> None:
    year = bucket_step(parse_interval("1y"))
    with pytest.raises(InvalidInput, match="9999") as err:
        bucket_edges(
            datetime(9999, 6, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC), year, zone("UTC")
        )
    assert err.value.details[0].field == "to"


def test_windows_take_the_syntax_but_no_calendar_units() -> None:
    assert rolling_window(parse_interval("1w", "window")) == timedelta(days=7)
    assert rolling_window(parse_interval("500ms", "window")) == timedelta(milliseconds=500)
    with pytest.raises(InvalidInput, match="fixed length") as err:
        rolling_window(parse_interval("1M", "window"))
    assert err.value.details[0].field == "window"


def test_resolve_zone_prefers_tz_then_the_building_then_the_default() -> None:
    assert resolve_zone("Asia/Kolkata", "Europe/Zurich", "UTC") == ZoneInfo("Asia/Kolkata")
    assert resolve_zone(None, "Europe/Zurich", "UTC") == ZoneInfo("Europe/Zurich")
    assert resolve_zone(None, None, "America/New_York") == ZoneInfo("America/New_York")
    with pytest.raises(InvalidInput) as err:
        resolve_zone("Mars/Olympus", "Europe/Zurich", "UTC")
    assert err.value.details[0].field == "tz"
