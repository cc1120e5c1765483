"""An independent reference for the averages, computed in plain Python from the raw captures."""

from __future__ import annotations

import math
from collections.abc import Mapping
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
