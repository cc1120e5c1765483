"""Rooms with several sensors: the pooled averages from PostgreSQL against tests/reference.py.

Random data: several sensors of a room on one timeline (many equal timestamps across sensors),
values re-sent and overwritten in shuffled (late) order, a sensor moved mid-window and captures
exactly at the move, a sensor of another type in the same room (never pooled), an empty room.
The rows are written in SQL (sensor, sensor_assignment, capture with the room of the sensor's
assignment at ts) as ingest writes them; agreement with the reference is required to 1e-9 for
the latest average, every series point and the building overview, at window and bucket edges.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests import reference
from tests.conftest import NOW, ClientFactory

TOL = 1e-9
ROOMS = ["r1", "r2", "r3"]
START = NOW - timedelta(hours=6)
MOVE = START + timedelta(hours=3)  # sensor "b" moves from r1 to r2 (on a bucket edge)
MOVE_2 = START + timedelta(hours=4, minutes=7, seconds=13)  # and "c" from r2 to r1 (off edges)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


Data = dict[str, reference.Sensor]


def _times(rng: random.Random, n: int) -> list[datetime]:
    out = set()
    for _ in range(n):
        second = rng.choice([0, 0, 0, rng.randrange(60)])  # many on minute and bucket edges
        micro = rng.choice([0, 0, rng.randrange(1_000_000)])
        out.add(
            START + timedelta(minutes=rng.randrange(6 * 60), seconds=second, microseconds=micro)
        )
    return sorted(out)


@pytest.fixture
def data(db: psycopg.Connection[Any]) -> Data:
    """Write the rows; return the temperature sensors as the reference sees them."""
    rng = random.Random(20261207)
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
    moves: dict[str, list[tuple[datetime | None, str]]] = {
        "default": [(None, "r1")],
        "a": [(None, "r1")],
        "b": [(None, "r1"), (MOVE, "r2")],
        "c": [(None, "r2"), (MOVE_2, "r1")],
        "h": [(None, "r1")],  # humidity: in r1, never pooled with temperature
    }
    shared = _times(rng, 150)  # equal timestamps across sensors
    final: dict[str, dict[datetime, float]] = {}
    writes: list[tuple[str, datetime, float]] = []
    for name, history in moves.items():
        first_room = history[0][1]
        type_id = hum[0] if name == "h" else temp[0]
        if name == "default":
            row = db.execute(
                "INSERT INTO sensor (sensor_type_id, default_room_id) VALUES (%s, %s) RETURNING id",
                (type_id, room_ids[first_room]),
            ).fetchone()
        else:
            row = db.execute(
                "INSERT INTO sensor (key, sensor_type_id) VALUES (%s, %s) RETURNING id",
                (name, type_id),
            ).fetchone()
        assert row is not None
        for valid_from, room in history:
            db.execute(
                "INSERT INTO sensor_assignment (sensor_id, valid_from, room_id) "
                "VALUES (%s, COALESCE(%s, '-infinity'::timestamptz), %s)",
                (row[0], valid_from, room_ids[room]),
            )
        stamps = sorted(set(rng.sample(shared, 90) + _times(rng, 40)))
        stamps += [m for m, _ in history[1:]]  # a capture exactly at each move
        for t in stamps:
            writes.append((name, t, round(rng.uniform(15.0, 28.0), rng.choice([1, 3, 6]))))
        final[name] = {}
    # re-sent (identical) and overwritten captures, everything in shuffled (late) order
    writes += rng.sample(writes, 60)
    writes += [(n, t, v + rng.choice([-2.5, 1.25, 3.0])) for n, t, v in rng.sample(writes, 50)]
    rng.shuffle(writes)
    ids = dict(
        db.execute(
            "SELECT COALESCE(key, 'default'), id FROM sensor WHERE key IS NULL OR key <> ''"
        ).fetchall()
    )
    sensors = {n: reference.Sensor(final[n], h) for n, h in moves.items()}
    for name, t, value in writes:
        room = sensors[name].room_at(t)
        db.execute(
            "INSERT INTO capture (ts, value, room_id, sensor_id) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (room_id, sensor_id, ts) DO UPDATE SET value = EXCLUDED.value",
            (t, value, room_ids[room], ids[name]),
        )
        final[name][t] = value  # last write wins
    return {n: s for n, s in sensors.items() if n != "h"}


def close(actual: float | None, expected: float | None) -> bool:
    if expected is None:
        return actual is None
    return actual is not None and abs(actual - expected) <= TOL


def check(actual: dict[str, Any], expected: reference.Pooled, twm: bool = True) -> None:
    assert actual["count"] == expected.count, (actual, expected)
    assert actual["sensors"] == expected.sensors, (actual, expected)
    for name in ("mean", "min", "max"):
        assert close(actual[name], getattr(expected, name)), (name, actual, expected)
    if twm:
        assert close(actual["time_weighted_mean"], expected.time_weighted_mean), (actual, expected)


def edge_times(data: Data, rng: random.Random) -> list[datetime]:
    """Capture instants (window ends), 1 and 15 minutes after them (window starts), the moves
    and the instants a window starting at them ends, and random instants."""
    stamps = sorted({t for s in data.values() for t in s.captures})
    picks = rng.sample(stamps, 20)
    around = [MOVE, MOVE_2] + [
        m + d
        for m in (MOVE, MOVE_2)
        for d in (
            timedelta(minutes=1),
            timedelta(minutes=15),
            timedelta(hours=1),
            timedelta(seconds=30),
        )
    ]
    return (
        picks
        + [t + timedelta(minutes=15) for t in picks[:8]]
        + [t + timedelta(minutes=1) for t in picks[8:12]]
        + around
        + [START + timedelta(seconds=rng.randrange(6 * 3600)) for _ in range(8)]
    )


SPANS = {"1m": 60, "2m": 120, "5m": 300, "15m": 900, "1h": 3600}


def test_latest_average_pools_sensors(client: TestClient, data: Data) -> None:
    rng = random.Random(1)
    several = 0
    for at in edge_times(data, rng):
        for window in ("1m", "15m", "1h"):
            for room in ROOMS:
                body = client.get(
                    f"/v1/buildings/hq/rooms/{room}/average",
                    params={"at": iso(at), "window": window},
                ).json()
                start = at - timedelta(seconds=SPANS[window])
                check(body, reference.pooled_window(data, room, start, at))
                several += body["sensors"] > 1
    assert several > 50  # the data really pools several sensors


@pytest.mark.parametrize(
    ("step", "window"), [("15m", "15m"), ("5m", "15m"), ("1h", "15m"), ("1m", "2m"), ("1h", "1h")]
)
def test_raw_series_pools_sensors(
    client_factory: ClientFactory, data: Data, step: str, window: str
) -> None:
    client = client_factory(rollup_reads=False)
    frm, to = START - timedelta(minutes=7), NOW + timedelta(seconds=1)
    for room in ROOMS:
        body = client.get(
            f"/v1/buildings/hq/rooms/{room}/averages",
            params={"from": iso(frm), "to": iso(to), "step": step, "window": window},
        ).json()
        times = reference.series_times(frm, to, timedelta(seconds=SPANS[step]))
        assert [p["t"] for p in body["points"]] == [iso(t) for t in times]
        w = timedelta(seconds=SPANS[window])
        for point, t in zip(body["points"], times, strict=True):
            check(point, reference.pooled_window(data, room, t - w, t), twm=False)


def test_building_overview_pools_sensors(client: TestClient, data: Data) -> None:
    rng = random.Random(2)
    for at in edge_times(data, rng)[:20]:
        body = client.get("/v1/buildings/hq/averages", params={"at": iso(at), "window": "15m"})
        rooms = body.json()["rooms"]
        assert [r["room"] for r in rooms] == ROOMS
        for r in rooms:
            expected = reference.pooled_window(data, r["room"], at - timedelta(minutes=15), at)
            check(r, expected, twm=False)
            assert r["last_ts"] == (None if expected.last_ts is None else iso(expected.last_ts))
