"""Rows for the bucket-mode tests: a year of captures of rooms with several sensors, dense around
the DST changes of Europe/Zurich and America/New_York, with captures exactly on the bucket edges
of the zones tested (local midnights and hours of Zurich, New York, Kolkata, Kathmandu, UTC).

Written in SQL as ingest writes them (sensor, sensor_assignment, capture with the room of the
sensor's assignment at ts): equal timestamps across sensors, values re-sent and overwritten in
shuffled (late) order, sensor "b" moved r1 -> r2 inside Zurich's short day and "c" r2 -> r1 inside
its repeated autumn hour (captures at both moves), an empty week (carried values across empty
buckets), a humidity sensor in r1 (never pooled with temperature) and an empty room r3.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from roomtemp.db import room_sensors
from tests import pooled_data, reference

ROOMS = ["r1", "r2", "r3"]
ZONES = ["Europe/Zurich", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "UTC"]
YEAR = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
#: Days written densely (a capture every few minutes): both DST changes of Zurich and New York.
DENSE_DAYS = [
    datetime(2026, 3, 8, tzinfo=UTC),
    datetime(2026, 3, 29, tzinfo=UTC),
    datetime(2026, 10, 25, tzinfo=UTC),
    datetime(2026, 11, 1, tzinfo=UTC),
]
MOVE_B = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 01:30 +01:00 in Zurich, its short day
MOVE_C = datetime(2026, 10, 25, 1, 17, 13, tzinfo=UTC)  # 02:17:13 +01:00, the repeated hour
EMPTY = (datetime(2026, 6, 10, tzinfo=UTC), datetime(2026, 6, 17, tzinfo=UTC))
Data = dict[str, reference.Sensor]


def _edge_instants() -> list[datetime]:
    """Local midnights of every day and local hour starts of the dense days, in every zone."""
    out: set[datetime] = set()
    for name in ZONES:
        zone = ZoneInfo(name)
        day = YEAR[0].astimezone(zone).date() - timedelta(days=1)
        while day <= YEAR[1].astimezone(zone).date():
            out.add(datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC))
            day += timedelta(days=1)
        for d in DENSE_DAYS:
            t = d - timedelta(hours=12)
            while t < d + timedelta(hours=36):
                if t.astimezone(zone).minute == 0:
                    out.add(t)
                t += timedelta(minutes=15)
    return sorted(out)


def _times(rng: random.Random) -> list[datetime]:
    start, end = YEAR[0] - timedelta(days=5), YEAR[1] + timedelta(days=5)
    span = int((end - start).total_seconds())
    out = {start + timedelta(seconds=rng.randrange(span)) for _ in range(1200)}
    for d in DENSE_DAYS:
        base = d - timedelta(hours=12)
        out |= {base + timedelta(seconds=rng.randrange(48 * 3600)) for _ in range(250)}
    edges = _edge_instants()
    out |= set(rng.sample(edges, len(edges) // 4))
    jitter = [t + timedelta(microseconds=rng.choice([-1, 1])) for t in rng.sample(edges, 40)]
    return sorted(t for t in out | set(jitter) if not EMPTY[0] <= t < EMPTY[1])


def write(db: psycopg.Connection[Any], database_url: str) -> Data:
    """Write the rows and build their rollups (as the application does after a load); return
    the temperature sensors as the reference sees them."""
    rng = random.Random(16)
    b = db.execute("INSERT INTO building (key, name) VALUES ('hq', '') RETURNING id").fetchone()
    assert b is not None
    room_ids: dict[str, int] = {}
    for key in ROOMS:
        row = db.execute(
            "INSERT INTO room (building_id, key, name) VALUES (%s, %s, '') RETURNING id",
            (b[0], key),
        ).fetchone()
        assert row is not None
        room_ids[key] = row[0]
    temp = db.execute("SELECT id FROM sensor_type WHERE key = 'temperature'").fetchone()
    hum = db.execute(
        "INSERT INTO sensor_type (key, unit, min_value, max_value) "
        "VALUES ('humidity', 'percent', 0, 100) RETURNING id"
    ).fetchone()
    assert temp is not None
    assert hum is not None
    history_of: dict[str, list[tuple[datetime | None, str]]] = {
        "default": [(None, "r1")],
        "a": [(None, "r1")],
        "b": [(None, "r1"), (MOVE_B, "r2")],
        "c": [(None, "r2"), (MOVE_C, "r1")],
        "h": [(None, "r1")],
    }
    shared = _times(rng)
    ids: dict[str, int] = {}
    writes: list[tuple[str, datetime, float]] = []
    for name, history in history_of.items():
        type_id = hum[0] if name == "h" else temp[0]
        if name == "default":
            row = db.execute(
                "INSERT INTO sensor (sensor_type_id, default_room_id) VALUES (%s, %s) RETURNING id",
                (type_id, room_ids[history[0][1]]),
            ).fetchone()
        else:
            row = db.execute(
                "INSERT INTO sensor (key, sensor_type_id) VALUES (%s, %s) RETURNING id",
                (name, type_id),
            ).fetchone()
        assert row is not None
        ids[name] = row[0]
        for valid_from, room in history:
            db.execute(
                "INSERT INTO sensor_assignment (sensor_id, valid_from, room_id) "
                "VALUES (%s, COALESCE(%s, '-infinity'::timestamptz), %s)",
                (row[0], valid_from, room_ids[room]),
            )
            db.execute(room_sensors.RECORD_ALL)
        stamps = set(rng.sample(shared, len(shared) // 2))  # equal timestamps across sensors
        stamps |= {m for m, _ in history[1:] if m is not None}  # a capture at each move
        for t in sorted(stamps):
            writes.append((name, t, round(rng.uniform(15.0, 28.0), rng.choice([1, 3, 6]))))
    writes += rng.sample(writes, 200)  # re-sent
    writes += [(n, t, v + rng.choice([-2.5, 1.25, 3.0])) for n, t, v in rng.sample(writes, 200)]
    rng.shuffle(writes)  # late
    sensors = {n: reference.Sensor({}, h) for n, h in history_of.items()}
    rows = []
    for name, t, value in writes:
        rows.append((t, value, room_ids[sensors[name].room_at(t)], ids[name]))
        sensors[name].captures[t] = value  # type: ignore[index] # last write wins
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO capture (ts, value, room_id, sensor_id) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (room_id, sensor_id, ts) DO UPDATE SET value = EXCLUDED.value",
            rows,
        )
    pooled_data.rebuild_rollups(
        database_url, YEAR[0] - timedelta(days=10), YEAR[1] + timedelta(days=10)
    )
    return {n: s for n, s in sensors.items() if n != "h"}
