"""TEMPORARY stand-in for service/roomtemp/timegrid.py (branch wt-zones): bucket steps and edges.

Deleted when wt-zones is merged; bucket mode imports it through average/bucket_service.py only.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUTE = timedelta(minutes=1)
#: Sub-day steps of the ladder (each divides 24 h), then the calendar steps.
SUB_DAY = {
    "1m": 1,
    "2m": 2,
    "5m": 5,
    "10m": 10,
    "15m": 15,
    "20m": 20,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "3h": 180,
    "4h": 240,
    "6h": 360,
    "8h": 480,
    "12h": 720,
}
CALENDAR = {"1d": 1, "1w": 7, "1M": 31, "1y": 366}  # nominal days, for rounding up
_STEP = re.compile(r"^(\d{1,9})(ms|s|m|h|d|w|M|y)$")
_UNIT_MINUTES = {"s": 1 / 60, "m": 1, "h": 60, "d": 1440, "w": 10080}


def parse_bucket_step(text: str) -> str:
    """A Grafana interval (500ms, 10s, 1m, 2h, 7d, 1w, 30d, 1M, 1y) rounded UP to the ladder."""
    match = _STEP.match(text.strip())
    if match is None or int(match[1]) == 0:
        raise ValueError("step must be a positive number with ms, s, m, h, d, w, M or y, e.g. 1h")
    n, unit = int(match[1]), match[2]
    if unit == "y":
        if n == 1:
            return "1y"
        raise ValueError("at most 1y")
    if unit == "M":
        return "1M" if n == 1 else "1y"
    minutes = n / 60_000 if unit == "ms" else n * _UNIT_MINUTES[unit]
    for label, size in SUB_DAY.items():
        if minutes <= size:
            return label
    for label, days in CALENDAR.items():
        if minutes <= days * 1440:
            return label
    raise ValueError("at most 1y")


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone") from None


def nominal(step: str) -> timedelta:
    if step in SUB_DAY:
        return SUB_DAY[step] * MINUTE
    return timedelta(days={"1d": 1, "1w": 7, "1M": 28, "1y": 365}[step])


def _instant(wall: datetime, zone: ZoneInfo) -> list[datetime]:
    """The instants with this local wall time: none (in a gap), one, or two (repeated hour)."""
    out = []
    for fold in (0, 1):
        t = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if t.astimezone(zone).replace(tzinfo=None) == wall and t not in out:
            out.append(t)
    return out


def _day_start(d: date, zone: ZoneInfo) -> datetime:
    found = _instant(datetime.combine(d, time()), zone)
    if found:
        return found[0]
    t = datetime.combine(d, time()).replace(tzinfo=zone, fold=1).astimezone(UTC)
    while t.astimezone(zone).date() < d:  # midnight in a gap: the first instant of the day
        t += MINUTE
    return t


def _day_edges(d: date, step: str, zone: ZoneInfo) -> list[datetime]:
    if step in SUB_DAY:
        size = SUB_DAY[step]
        out: list[datetime] = []
        for k in range(1440 // size):
            out += _instant(datetime.combine(d, time()) + k * size * MINUTE, zone)
        return out
    keep = (
        step == "1d"
        or (step == "1w" and d.weekday() == 0)
        or (step == "1M" and d.day == 1)
        or (step == "1y" and d.month == 1 and d.day == 1)
    )
    return [_day_start(d, zone)] if keep else []


def bucket_edges(start: datetime, end: datetime, step: str, zone: ZoneInfo) -> list[datetime]:
    """Edges e0 < e1 < … < en (UTC) of the whole buckets covering [start, end): e0 is the start
    of the bucket holding `start`, en the end of the one holding end - 1 µs."""
    pad = timedelta(days={"1w": 8, "1M": 32, "1y": 370}.get(step, 1))
    d = (start - pad).astimezone(zone).date()
    last = (end + pad).astimezone(zone).date()
    edges: list[datetime] = []
    while d <= last:
        edges += _day_edges(d, step, zone)
        d += timedelta(days=1)
    edges.sort()
    lo = max(i for i, e in enumerate(edges) if e <= start)
    hi = min(i for i, e in enumerate(edges) if e >= end)
    return edges[lo : hi + 1]
