"""A sensor moved out of a room and back within one hour: the rollup piece of that hour (room,
sensor) holds its captures before and after the trip, and its internal segment spans the time
the sensor was away. Reports (plain and grouped) and bucket series must not count that time in
the room: checked against tests/reference.py, from the rollups (the raw statement refused)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from roomtemp.db import room_sensors
from roomtemp.report import queries as report_queries
from tests import pooled_data, reference
from tests.conftest import ClientFactory

T = datetime(2026, 11, 20, tzinfo=UTC)
AWAY, BACK = T + timedelta(hours=10, minutes=10), T + timedelta(hours=10, minutes=40)
ROOMS = ["r1", "r2"]
Data = dict[str, reference.Sensor]


def _at(h: int, m: int) -> datetime:
    return T + timedelta(hours=h, minutes=m)


@pytest.fixture
def data(db: psycopg.Connection[Any], database_url: str) -> Data:
    """Sensor "x": r1, r2 from 10:10 to 10:40, r1 again; "y" in r1 throughout, "z" in r2."""
    b = db.execute("INSERT INTO building (key, name) VALUES ('hq', '') RETURNING id").fetchone()
    assert b is not None
    rooms = {}
    for key in ROOMS:
        row = db.execute(
            "INSERT INTO room (building_id, key, name) VALUES (%s, %s, '') RETURNING id",
            (b[0], key),
        ).fetchone()
        assert row is not None
        rooms[key] = row[0]
    temp = db.execute(
        "SELECT id, comfort_low, comfort_high FROM sensor_type WHERE key = 'temperature'"
    )
    type_row = temp.fetchone()
    assert type_row is not None
    history: dict[str, list[tuple[datetime | None, str]]] = {
        "x": [(None, "r1"), (AWAY, "r2"), (BACK, "r1")],
        "y": [(None, "r1")],
        "z": [(None, "r2")],
    }
    stamps = {
        "x": [_at(9, 50), _at(10, 5), _at(10, 20), _at(10, 35), _at(10, 50), _at(12, 30)],
        "y": [_at(h, m) for h in range(8, 14) for m in (0, 25, 50)],
        "z": [_at(9, 0), _at(10, 30), _at(11, 0)],
    }
    sensors: dict[str, reference.Sensor] = {}
    for name, moves in history.items():
        row = db.execute(
            "INSERT INTO sensor (key, sensor_type_id) VALUES (%s, %s) RETURNING id",
            (name, type_row[0]),
        ).fetchone()
        assert row is not None
        for valid_from, room in moves:
            db.execute(
                "INSERT INTO sensor_assignment (sensor_id, valid_from, room_id) "
                "VALUES (%s, COALESCE(%s, '-infinity'::timestamptz), %s)",
                (row[0], valid_from, rooms[room]),
            )
            db.execute(room_sensors.RECORD_ALL)
        values = {t: 290.0 + (i * 7 % 11) for i, t in enumerate(stamps[name])}
        sensor = reference.Sensor(values, moves)
        for t, v in values.items():
            db.execute(
                "INSERT INTO capture (ts, value, room_id, sensor_id) VALUES (%s, %s, %s, %s)",
                (t, v, rooms[sensor.room_at(t)], row[0]),
            )
        sensors[name] = sensor
    pooled_data.rebuild_rollups(database_url, T - timedelta(days=1), T + timedelta(days=2))
    return sensors


def _refuse_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    real = report_queries.select_room_periods

    async def pieces_only(*args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("rollups"):
            raise AssertionError("read the raw captures")
        return await real(*args, **kwargs)

    monkeypatch.setattr(report_queries, "select_room_periods", pieces_only)


def _close(actual: Any, expected: Any) -> bool:
    if isinstance(expected, datetime):
        return (
            actual is not None
            and abs((datetime.fromisoformat(actual) - expected).total_seconds()) <= 1e-6
        )
    if isinstance(expected, float):
        return actual is not None and abs(actual - expected) <= 1e-9
    return bool(actual == expected)


@pytest.mark.parametrize(
    ("start", "end"),
    [(_at(8, 0), _at(14, 0)), (_at(10, 0), _at(11, 0)), (T, T + timedelta(days=1))],
)
def test_report_leaves_out_the_trip(
    client_factory: ClientFactory,
    db: psycopg.Connection[Any],
    data: Data,
    monkeypatch: pytest.MonkeyPatch,
    start: datetime,
    end: datetime,
) -> None:
    low, high = db.execute(
        "SELECT comfort_low, comfort_high FROM sensor_type WHERE key = 'temperature'"
    ).fetchone() or (None, None)
    assert low is not None
    assert high is not None
    _refuse_raw(monkeypatch)
    client = client_factory(rollup_reads=True)
    params = {"from": start.isoformat(), "to": end.isoformat(), "unit": "kelvin"}
    bounds = {"comfort_low": low, "comfort_high": high}
    for extra in ({}, {"group_by": "day", "tz": "UTC"}):
        r = client.get("/v1/buildings/hq/report", params={**params, **bounds, **extra})
        assert r.status_code == 200, r.text
        for got in r.json()["rooms"]:
            want = reference.pooled_report(data, got["room"], start, end, low, high)
            for key, value in want.items():
                assert _close(got[key], value), (extra, got["room"], key, got[key], value)
            for p in got.get("periods", []):
                a, z = datetime.fromisoformat(p["start"]), datetime.fromisoformat(p["end"])
                want = reference.pooled_report(data, got["room"], a, z, low, high)
                for key, value in want.items():
                    assert _close(p[key], value), (a, got["room"], key, p[key], value)


def test_bucket_series_leave_out_the_trip(client_factory: ClientFactory, data: Data) -> None:
    """Rollup and raw bucket series agree (the raw ones are checked against the reference in
    tests/average/test_buckets.py); the hour of the trip is read raw."""
    params = {
        "from": _at(6, 0).isoformat(),
        "to": _at(18, 0).isoformat(),
        "mode": "buckets",
        "step": "1h",
        "tz": "UTC",
        "unit": "kelvin",
    }
    answers = []
    for rollups in (True, False):
        client = client_factory(rollup_reads=rollups)
        r = client.get("/v1/buildings/hq/rooms/r1/averages", params=params)
        assert r.status_code == 200, r.text
        answers.append(r.json()["points"])
    for a, b in zip(*answers, strict=True):
        for key in ("count", "sensors"):
            assert a[key] == b[key]
        for key in ("mean", "min", "max", "time_weighted_mean"):
            assert (a[key] is None and b[key] is None) or abs(a[key] - b[key]) <= 1e-9, (a, b)
    ten = next(p for p in answers[0] if datetime.fromisoformat(p["t"]) == _at(10, 0))
    assert ten["count"] == 2 + 3  # x at 10:05 and 10:50, y at 10:00, 10:25, 10:50
