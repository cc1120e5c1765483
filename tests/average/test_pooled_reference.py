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

from tests import pooled_data, reference
from tests.conftest import NOW, ClientFactory

TOL = 1e-9
ROOMS = pooled_data.ROOMS
START = NOW - timedelta(hours=6)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


Data = pooled_data.Data
MOVE, MOVE_2 = pooled_data.moves(START)


@pytest.fixture
def data(db: psycopg.Connection[Any], database_url: str) -> Data:
    written = pooled_data.write(db, START)
    pooled_data.rebuild_rollups(database_url, START - timedelta(days=1), NOW + timedelta(days=1))
    return written


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
@pytest.mark.parametrize("rollups", [False, True])
def test_series_pools_sensors(
    client_factory: ClientFactory, data: Data, step: str, window: str, rollups: bool
) -> None:
    """Both paths: the raw captures, and (steps and windows in 15 min) the rollups."""
    client = client_factory(rollup_reads=rollups)
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
