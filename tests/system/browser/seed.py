"""The data the browser tests seed, and the expected averages computed from it in plain Python.

Times are relative to T0 (now, floored to the minute): a "recent" cluster 1-3 minutes before T0
sits in the live 15-minute window for ~12 minutes after seeding, and history starts at T0 - 20m,
so nothing else ever enters that window. All captures are on whole minutes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SILENT_MINUTES = 60  # the page's default threshold (sensors.js SILENT_DEFAULT)
COMFORT_C = (20.0, 24.0)  # the service's default band (COMFORT_*_CELSIUS), the page reads it
HISTORY = timedelta(hours=7)
GAP = (timedelta(hours=4), timedelta(hours=3))  # no captures in (T0 - 4h, T0 - 3h] for 3.14


@dataclass(frozen=True)
class Capture:
    building: str
    room: str
    ts: datetime
    celsius: float

    def body(self) -> dict[str, object]:
        return {
            "building": self.building,
            "room": self.room,
            "value": self.celsius,
            "unit": "celsius",
            "ts": self.ts.isoformat().replace("+00:00", "Z"),
        }


RECENT: dict[tuple[str, str], list[float]] = {
    ("hq", "3.14"): [21.0, 21.5, 22.5],  # comfortable
    ("hq", "lobby"): [18.2, 18.6],  # cold
    ("hq", "server"): [26.0],  # warm
    ("annex", "a1"): [23.0],  # comfortable
}
SILENT_ROOM = ("hq", "attic")  # one capture two hours ago: no data in the window, silent


def t0_now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def captures(t0: datetime) -> list[Capture]:
    out: list[Capture] = []
    for (b, r), values in RECENT.items():
        for i, v in enumerate(values):
            out.append(Capture(b, r, t0 - timedelta(minutes=1 + i), v))
    out.append(Capture(*SILENT_ROOM, t0 - timedelta(hours=2), 19.5))
    # History of hq/3.14: every 5 minutes from T0 - 20m back HISTORY, with a one-hour gap.
    k = 0
    while (age := timedelta(minutes=20 + 5 * k)) <= HISTORY:
        if not GAP[1] <= age < GAP[0]:
            value = round(21.5 + 1.5 * math.sin(k / 6.0), 2)
            out.append(Capture("hq", "3.14", t0 - age, value))
        k += 1
    return out


def celsius_to(unit: str, c: float) -> float:
    if unit == "kelvin":
        return c + 273.15
    if unit == "fahrenheit":
        return c * 9.0 / 5.0 + 32.0
    return c


@dataclass(frozen=True)
class Stats:
    count: int
    mean: float | None
    min: float | None
    max: float | None


def window_stats(
    data: list[Capture], building: str, room: str, start: datetime, end: datetime
) -> Stats:
    """count/mean/min/max (°C) of the captures of one room in (start, end]."""
    vals = [
        c.celsius for c in data if (c.building, c.room) == (building, room) and start < c.ts <= end
    ]
    if not vals:
        return Stats(0, None, None, None)
    return Stats(len(vals), sum(vals) / len(vals), min(vals), max(vals))


def series_points_with_data(
    data: list[Capture], building: str, room: str, start: datetime, end: datetime, step: timedelta
) -> tuple[int, int, int]:
    """(points, points with captures, runs of such points) of a 15-minute rolling series."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    first = epoch + ((start - epoch) // step + 1) * step
    total = with_data = runs = 0
    previous = False
    t = first
    while t <= end:
        total += 1
        has = window_stats(data, building, room, t - timedelta(minutes=15), t).count > 0
        with_data += has
        runs += has and not previous
        previous = has
        t += step
    return total, with_data, runs
