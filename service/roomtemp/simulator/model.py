"""Readings of simulated rooms: heating schedule, daily cycle, thermal lag, noise, and the
faults real sensors have (dropouts, duplicate sends, late sends). Deterministic for a seed."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

HEATED_C = 21.5  # weekdays 06:30-18:00
SETBACK_C = 17.0
TAU = timedelta(minutes=45)  # how fast a room follows its heating
DROPOUT_P = 0.005  # per reading: the sensor goes silent for a while
DUPLICATE_P = 0.02  # the same reading is sent twice
LATE_P = 0.02  # a reading is held back and sent a few ticks later


@dataclass
class Room:
    building: str
    room: str
    offset: float  # sunny side, draughty corner, ...
    temp: float
    silent_until: datetime | None = None


@dataclass(frozen=True)
class Reading:
    building: str
    room: str
    ts: datetime
    celsius: float

    def payload(self) -> dict[str, object]:
        return {
            "building": self.building,
            "room": self.room,
            "value": round(self.celsius, 2),
            "unit": "celsius",
            "ts": self.ts.isoformat(),
        }


def setpoint(ts: datetime) -> float:
    minutes = ts.hour * 60 + ts.minute
    heated = ts.weekday() < 5 and 6 * 60 + 30 <= minutes < 18 * 60
    return HEATED_C if heated else SETBACK_C


def daily_swing(ts: datetime) -> float:
    """Sun and occupancy: warmest mid-afternoon."""
    hours = ts.hour + ts.minute / 60
    return 0.8 * math.sin(2 * math.pi * (hours - 9) / 24)


@dataclass
class Simulation:
    buildings: int
    rooms: int
    seed: int = 1
    _rng: random.Random = field(init=False)
    _rooms: list[Room] = field(init=False)
    _late: list[tuple[datetime, Reading]] = field(init=False, default_factory=list)
    _last: datetime | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - a simulation, not secrets
        self._rooms = [
            Room(f"b{b + 1}", f"r{r + 1:02d}", self._rng.uniform(-0.8, 0.8), SETBACK_C)
            for b in range(self.buildings)
            for r in range(self.rooms)
        ]

    def tick(self, ts: datetime) -> list[Reading]:
        """What the sensors send at `ts` (in send order; may include late and repeated ones)."""
        rng = self._rng
        dt = ts - self._last if self._last is not None else timedelta(0)
        self._last = ts
        follow = 1 - math.exp(-dt / TAU)
        out: list[Reading] = []
        for room in self._rooms:
            target = setpoint(ts) + room.offset + daily_swing(ts)
            room.temp += (target - room.temp) * follow + rng.gauss(0, 0.05)
            if room.silent_until is not None and ts < room.silent_until:
                continue
            if rng.random() < DROPOUT_P:
                room.silent_until = ts + dt * rng.randint(3, 30)
                continue
            reading = Reading(room.building, room.room, ts, room.temp + rng.gauss(0, 0.1))
            if rng.random() < LATE_P:
                self._late.append((ts + dt * rng.randint(1, 5), reading))
                continue
            out.append(reading)
            if rng.random() < DUPLICATE_P:
                out.append(reading)
        due = [r for when, r in self._late if when <= ts]
        self._late = [(when, r) for when, r in self._late if when > ts]
        return out + due
