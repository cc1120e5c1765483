"""An independent reference for the averages, computed in plain Python from the raw captures."""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Expected:
    count: int
    mean: float | None
    min: float | None
    max: float | None
    time_weighted_mean: float | None


def window(captures: Mapping[datetime, float], start: datetime, end: datetime) -> Expected:
    """Statistics over (start, end] of one room's captures (ts → value, after last-write-wins)."""
    ordered = sorted(captures.items())
    inside = [(t, v) for t, v in ordered if start < t <= end]
    if not inside:
        return Expected(0, None, None, None, None)
    values = [v for _, v in inside]
    before = [(t, v) for t, v in ordered if t <= start]
    held = ([(start, before[-1][1])] if before else []) + inside
    weights = [
        ((held[i + 1][0] if i + 1 < len(held) else end) - t).total_seconds()
        for i, (t, _) in enumerate(held)
    ]
    total = sum(weights)
    twm = (
        math.fsum(v * w for (_, v), w in zip(held, weights, strict=True)) / total if total else None
    )
    return Expected(len(values), math.fsum(values) / len(values), min(values), max(values), twm)


def last_at_or_before(captures: Mapping[datetime, float], end: datetime) -> datetime | None:
    return max((t for t in captures if t <= end), default=None)


def series_times(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """Every multiple of step since the epoch with start < t <= end, by brute force."""
    epoch = datetime(1970, 1, 1, tzinfo=start.tzinfo)
    n = (start - epoch) // step
    t = epoch + n * step
    out = []
    while t <= end:
        if t > start:
            out.append(t)
        t += step
    return out


# Rooms with several sensors (issue 15). Independent of the SQL: plain lists, brute force.


@dataclass(frozen=True)
class Sensor:
    """One sensor: its captures after last-write-wins (ts → value) and where it was over time,
    (valid_from, room) in time order, the first valid_from None for '-infinity'."""

    captures: Mapping[datetime, float]
    assignments: Sequence[tuple[datetime | None, str]]

    def room_at(self, t: datetime) -> str:
        room = self.assignments[0][1]
        for valid_from, r in self.assignments:
            if valid_from is None or valid_from <= t:
                room = r
        return room

    def next_change_after(self, t: datetime) -> datetime | None:
        later = [v for v, _ in self.assignments if v is not None and v > t]
        return min(later, default=None)

    def in_room(self, room: str) -> list[tuple[datetime, float]]:
        """Its captures attributed to `room` (where it was at their ts), in time order."""
        return [(t, v) for t, v in sorted(self.captures.items()) if self.room_at(t) == room]


@dataclass(frozen=True)
class Pooled:
    count: int
    mean: float | None
    min: float | None
    max: float | None
    time_weighted_mean: float | None
    sensors: int
    last_ts: datetime | None


def _sensor_twm(
    sensor: Sensor, caps: list[tuple[datetime, float]], start: datetime, end: datetime
) -> float | None:
    """One sensor's time-weighted mean over (start, end] of its captures `caps` in one room."""
    inside = [(t, v) for t, v in caps if start < t <= end]
    before = [(t, v) for t, v in caps if t <= start]
    # (from, value, capture ts): the carried value holds from `start`
    held = ([(start, before[-1][1], before[-1][0])] if before else []) + [
        (t, v, t) for t, v in inside
    ]
    weights = []
    for i, (frm, _, ts) in enumerate(held):
        stop = held[i + 1][0] if i + 1 < len(held) else end
        change = sensor.next_change_after(ts)
        if change is not None and change < stop:
            stop = change
        weights.append(max(0.0, (stop - frm).total_seconds()))
    total = sum(weights)
    if not total:
        return None
    return math.fsum(v * w for (_, v, _), w in zip(held, weights, strict=True)) / total


def pooled_window(
    sensors: Mapping[str, Sensor], room: str, start: datetime, end: datetime
) -> Pooled:
    """A room's statistics over (start, end], pooling every sensor (of one type) in `sensors`."""
    values: list[float] = []
    twms: list[float] = []
    contributing = 0
    last: datetime | None = None
    for sensor in sensors.values():
        caps = sensor.in_room(room)
        inside = [v for t, v in caps if start < t <= end]
        stamps = [t for t, _ in caps if t <= end]
        if stamps:
            last = max(stamps) if last is None else max(last, *stamps)
        if not inside:
            continue
        contributing += 1
        values += inside
        twm = _sensor_twm(sensor, caps, start, end)
        if twm is not None:
            twms.append(twm)
    if not values:
        return Pooled(0, None, None, None, None, 0, last)
    return Pooled(
        len(values),
        math.fsum(values) / len(values),
        min(values),
        max(values),
        math.fsum(twms) / len(twms) if twms else None,
        contributing,
        last,
    )


def pooled_report(
    sensors: Mapping[str, Sensor],
    room: str,
    start: datetime,
    end: datetime,
    low: float,
    high: float,
) -> dict[str, object]:
    """A room's period report over [start, end) pooling its sensors (report/service.py says the
    rule): values in the stored unit, times as datetimes."""
    values: list[tuple[float, datetime]] = []
    twms: list[float] = []
    belows: list[float] = []
    aboves: list[float] = []
    gaps: list[tuple[float, datetime]] = []
    contributing = 0
    for sensor in sensors.values():
        caps = sensor.in_room(room)
        inside = [(t, v) for t, v in caps if start <= t < end]
        before = [(t, v) for t, v in caps if t < start]
        # (from, to, value or None for the lead without a carried value)
        first = inside[0][0] if inside else end
        stretches: list[tuple[datetime, datetime, float | None]] = []
        if before:
            ts, v = before[-1]
            change = sensor.next_change_after(ts)
            stop = first if change is None else min(first, change)
            stretches.append((start, max(start, stop), v))
        for i, (t, v) in enumerate(inside):
            stop = inside[i + 1][0] if i + 1 < len(inside) else end
            change = sensor.next_change_after(t)
            if change is not None and change < stop:
                stop = change
            stretches.append((t, stop, v))
        held = [(b - a).total_seconds() for a, b, _ in stretches]
        total = sum(held)
        if total:
            weighted = [(v, h) for (_, _, v), h in zip(stretches, held, strict=True)]
            twms.append(math.fsum(v * h for v, h in weighted if v is not None) / total)
            belows.append(sum(h for v, h in weighted if v is not None and v < low) / total)
            aboves.append(sum(h for v, h in weighted if v is not None and v > high) / total)
        if not inside:
            continue
        contributing += 1
        values += [(v, t) for t, v in inside]
        own = [((first - start).total_seconds(), start)] + [
            ((b - a).total_seconds(), a)
            for a, b, _ in stretches
            if a >= start and a in dict(inside)
        ]
        gaps.append(max(own, key=lambda g: (g[0], -g[1].timestamp())))
    gap = max(
        gaps,
        key=lambda g: (g[0], -g[1].timestamp()),
        default=((end - start).total_seconds(), start),
    )
    lo = min(values, default=None)
    hi = max(values, key=lambda x: (x[0], -x[1].timestamp()), default=None)
    return {
        "count": len(values),
        "mean": math.fsum(v for v, _ in values) / len(values) if values else None,
        "time_weighted_mean": math.fsum(twms) / len(twms) if twms else None,
        "min": None if lo is None else lo[0],
        "min_ts": None if lo is None else lo[1],
        "max": None if hi is None else hi[0],
        "max_ts": None if hi is None else hi[1],
        "share_below": math.fsum(belows) / len(belows) if belows else None,
        "share_above": math.fsum(aboves) / len(aboves) if aboves else None,
        "longest_gap_seconds": gap[0],
        "longest_gap_start": gap[1],
        "sensors": contributing,
    }


# Bucket mode (issue 16): every capture of [edges[0], edges[-1]) in the one bucket
# [edges[i], edges[i + 1]) found by comparing its time with the edges.


def bucket_index(t: datetime, edges: Sequence[datetime]) -> int | None:
    """i with edges[i] <= t < edges[i + 1], or None outside the edges."""
    i = bisect.bisect_right(edges, t) - 1
    return i if 0 <= i < len(edges) - 1 else None


def _held_mean(
    caps: Sequence[tuple[datetime, float]],
    times: Sequence[datetime],
    start: datetime,
    end: datetime,
    next_change: Callable[[datetime], datetime | None],
) -> float | None:
    """Time-weighted mean over [start, end) of time-ordered captures `caps`: the last one before
    `start` holds from `start`, each holds until the next, `end`, or next_change after its time."""
    at = bisect.bisect_left(times, start)
    inside = [(t, v) for t, v in caps[at : bisect.bisect_left(times, end)]]
    stretches: list[tuple[datetime, datetime, float]] = []
    first = inside[0][0] if inside else end
    if at > 0:
        ts, v = caps[at - 1]
        change = next_change(ts)
        stop = first if change is None else min(first, change)
        stretches.append((start, max(start, stop), v))
    for i, (t, v) in enumerate(inside):
        stop = inside[i + 1][0] if i + 1 < len(inside) else end
        change = next_change(t)
        if change is not None and change < stop:
            stop = change
        stretches.append((t, stop, v))
    held = [((b - a).total_seconds(), v) for a, b, v in stretches]
    total = sum(h for h, _ in held)
    return math.fsum(v * h for h, v in held) / total if total else None


def _buckets(
    streams: Sequence[tuple[list[tuple[datetime, float]], Callable[[datetime], datetime | None]]],
    edges: Sequence[datetime],
) -> list[Pooled]:
    out = []
    placed: list[dict[int, list[float]]] = []
    times = [[t for t, _ in caps] for caps, _ in streams]
    for caps, _ in streams:
        by_bucket: dict[int, list[float]] = {}
        for t, v in caps:
            i = bucket_index(t, edges)
            if i is not None:
                by_bucket.setdefault(i, []).append(v)
        placed.append(by_bucket)
    for i in range(len(edges) - 1):
        values: list[float] = []
        twms: list[float] = []
        for (caps, next_change), stamps, by_bucket in zip(streams, times, placed, strict=True):
            inside = by_bucket.get(i, [])
            if not inside:
                continue
            values += inside
            twm = _held_mean(caps, stamps, edges[i], edges[i + 1], next_change)
            if twm is not None:
                twms.append(twm)
        if not values:
            out.append(Pooled(0, None, None, None, None, 0, None))
            continue
        out.append(
            Pooled(
                len(values),
                math.fsum(values) / len(values),
                min(values),
                max(values),
                math.fsum(twms) / len(twms) if twms else None,
                sum(1 for b in placed if b.get(i)),
                None,
            )
        )
    return out


def pooled_buckets(
    sensors: Mapping[str, Sensor], room: str, edges: Sequence[datetime]
) -> list[Pooled]:
    """A room's buckets: count/mean/min/max over every capture of its sensors in the bucket;
    time-weighted mean = mean over the sensors with a capture in it of each one's own over
    [t, end), carried in from its previous capture in the room and cut at its moves."""
    return _buckets([(s.in_room(room), s.next_change_after) for s in sensors.values()], edges)


def sensor_buckets(sensor: Sensor, edges: Sequence[datetime]) -> list[Pooled]:
    """One sensor's own buckets, in whichever rooms it was: its moves cut nothing."""
    return _buckets([(sorted(sensor.captures.items()), lambda _: None)], edges)
