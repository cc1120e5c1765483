"""Synthetic worlds for the evaluator tests: a building in Europe/Zurich, rooms and sensors written
in SQL as ingest writes them, rules put through the service, captures that arrive on time, a few
rounds late, or later than any window, and the reference (tests/alerts_reference.py) beside it."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from roomtemp.alerts import service
from roomtemp.alerts.schemas import ReceiverIn, RuleIn
from roomtemp.db import room_sensors
from tests import alerts_reference as ref

ZONE = "Europe/Zurich"
ROOMS = ("r1", "r2", "r3", "r4")  # r4 never has a capture; r3 falls silent for a while
STEP = timedelta(seconds=60)


def rules(start: datetime) -> list[tuple[dict[str, Any], ref.Rule]]:
    """(the API body, the reference's rule) of every rule of the world."""
    k = ref.kelvin
    every = ROOMS
    return [
        (
            {"kind": "above", "threshold": 24, "unit": "celsius", "clear_threshold": 23.5,
             "for_seconds": 300, "clear_after_seconds": 120, "severity": "critical",
             "receivers": ["hook"]},
            ref.Rule("hot", "above", every, k(24, "celsius"), k(23.5, "celsius"), 900, 300, 120),
        ),
        (
            {"kind": "below", "threshold": 64.4, "unit": "°F", "window_seconds": 600,
             "receivers": ["hook", "hook2"]},
            ref.Rule("cold", "below", every, k(64.4, "fahrenheit"), None, 600),
        ),
        (
            {"kind": "above", "threshold": 22, "unit": "C", "room": "r1", "window_seconds": 300,
             "schedule": {"days": [7], "from": "02:30", "to": "03:30"}, "receivers": ["hook"]},
            ref.Rule("hot-sched", "above", ("r1",), k(22, "celsius"), None, 300,
                     days=(7,), start="02:30", end="03:30"),
        ),
        (
            {"kind": "silent", "silent_seconds": 600, "for_seconds": 120,
             "clear_after_seconds": 60, "receivers": ["hook"]},
            ref.Rule("silent", "silent", every, for_s=120, clear_after=60, silent_s=600,
                     created=start),
        ),
        (
            {"kind": "above", "threshold": 296.15, "unit": "K", "room": "r2",
             "window_seconds": 300, "for_seconds": 180},
            ref.Rule("hot-k", "above", ("r2",), 296.15, None, 300, 180),
        ),
        (
            {"kind": "above", "threshold": 0, "unit": "celsius", "enabled": False},
            ref.Rule("off", "above", ()),  # disabled: never evaluated
        ),
    ]  # fmt: skip


@dataclass
class World:
    start: datetime
    instants: list[datetime]
    reference: ref.Reference
    room_ids: dict[str, int]
    sensor_ids: dict[str, tuple[str, int]]  # sensor name -> (room, id)
    arriving: dict[datetime, list[tuple[int, int, datetime, float]]] = field(default_factory=dict)

    def feed(self, db: psycopg.Connection[Any], at: datetime) -> None:
        """Store the captures that arrive for the evaluation at `at`."""
        rows = self.arriving.pop(at, [])
        if rows:
            with db.cursor() as cur:
                cur.executemany(
                    "INSERT INTO capture (room_id, sensor_id, ts, value) VALUES (%s, %s, %s, %s)",
                    rows,
                )


def _sensor(db: psycopg.Connection[Any], room_id: int, key: str | None) -> int:
    row = db.execute(
        "INSERT INTO sensor (key, sensor_type_id, default_room_id) "
        "SELECT %s, id, %s FROM sensor_type WHERE key = 'temperature' RETURNING id",
        (key, None if key else room_id),
    ).fetchone()
    assert row is not None
    db.execute(
        "INSERT INTO sensor_assignment (valid_from, sensor_id, room_id) "
        "VALUES ('-infinity', %s, %s)",
        (row[0], room_id),
    )
    db.execute(room_sensors.RECORD_ALL)
    return int(row[0])


def _arrival(rng: random.Random, at: datetime, late: bool) -> datetime:
    if not late:
        return at
    roll = rng.random()
    if roll < 0.10:
        return at + STEP * rng.randint(1, 3)  # late, inside the windows
    if roll < 0.13:
        return at + STEP * 20  # later than the short windows
    return at


def build(
    db: psycopg.Connection[Any], start: datetime, minutes: int, seed: int, *, late: bool = True
) -> World:
    b = db.execute(
        "INSERT INTO building (key, name, time_zone) VALUES ('hq', 'HQ', %s) RETURNING id", (ZONE,)
    ).fetchone()
    assert b is not None
    room_ids: dict[str, int] = {}
    for key in ROOMS:
        row = db.execute(
            "INSERT INTO room (building_id, key, name) VALUES (%s, %s, '') RETURNING id",
            (b[0], key),
        ).fetchone()
        assert row is not None
        room_ids[key] = int(row[0])
    sensors = {
        "d1": ("r1", _sensor(db, room_ids["r1"], None)),
        "k1": ("r1", _sensor(db, room_ids["r1"], "k1")),  # a second sensor pooled in r1
        "d2": ("r2", _sensor(db, room_ids["r2"], None)),
        "d3": ("r3", _sensor(db, room_ids["r3"], None)),
        "d4": ("r4", _sensor(db, room_ids["r4"], None)),
    }
    instants = [start + STEP * i for i in range(1, minutes + 1)]
    reference = ref.Reference(ZoneInfo(ZONE), [r for _, r in rules(start)])
    world = World(start, instants, reference, room_ids, sensors)
    rng = random.Random(seed)
    end = instants[-1]
    for room, sensor_id in sensors.values():
        if room == "r4":
            continue
        period = rng.uniform(40, 70) * 60
        phase = rng.uniform(0, 2 * math.pi)
        t = start + timedelta(seconds=rng.uniform(0, 60))
        previous = start
        while t <= end:
            ts = t
            edge = start + STEP * math.floor((t - start) / STEP)
            if rng.random() < 0.25 and edge > previous:
                ts = edge  # on an instant: the edge of every window (t - window, t]
            previous = ts
            quiet = room == "r3" and start + (end - start) * 0.4 < t < start + (end - start) * 0.7
            if not quiet:
                x = (ts - start).total_seconds()
                celsius = 21 + 4 * math.sin(2 * math.pi * x / period + phase)
                value = celsius + rng.uniform(-0.6, 0.6) + 273.15
                first = start + STEP * math.ceil((ts - start) / STEP)  # first instant >= ts
                arrives = _arrival(rng, first, late)
                reference.captures.append(ref.Capture(room, ts, value, arrives))
                world.arriving.setdefault(arrives, []).append(
                    (room_ids[room], sensor_id, ts, value)
                )
            t += timedelta(seconds=rng.uniform(35, 80), microseconds=rng.randrange(1_000_000))
    return world


async def put_rules(engine: AsyncEngine, start: datetime) -> None:
    async with engine.begin() as conn:
        for name in ("hook", "hook2"):
            await service.put_receiver(
                conn, name, ReceiverIn(url=f"http://127.0.0.1:9/{name}"), start
            )
        for body, rule in rules(start):
            await service.put_rule(
                conn, rule.name, RuleIn.model_validate({"building": "hq", **body}), start
            )


def stored_transitions(db: psycopg.Connection[Any]) -> list[ref.Transition]:
    rows = db.execute(
        "SELECT ru.name, r.key, t.from_state, t.to_state, t.at, t.value "
        "FROM alert_transition t JOIN alert a ON a.id = t.alert_id "
        "JOIN alert_rule ru ON ru.id = a.rule_id JOIN room r ON r.id = a.room_id ORDER BY t.id"
    ).fetchall()
    return [ref.Transition(*row) for row in rows]


def ordered(ts: list[ref.Transition]) -> list[ref.Transition]:
    """Instant, rule and room order; the steps of one alert at one instant keep their order."""
    return sorted(ts, key=lambda t: (t.at, t.rule, t.room))


def assert_same(stored: list[ref.Transition], expected: list[ref.Transition]) -> None:
    got, want = ordered(stored), ordered(expected)
    assert [(t.rule, t.room, t.from_state, t.to_state, t.at) for t in got] == [
        (t.rule, t.room, t.from_state, t.to_state, t.at) for t in want
    ]
    for g, w in zip(got, want, strict=True):
        if w.value is None:
            assert g.value is None, (g, w)
        else:
            assert g.value is not None, (g, w)
            assert abs(g.value - w.value) <= 1e-9, (g, w)
