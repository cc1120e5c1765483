"""Per-sensor reads: GET /v1/sensors/{key}/average, /averages and /captures, by registered key
and by a default sensor's "{building}/{room}/{type}", over the rows of tests/pooled_data.py
(a sensor's own captures in every room it has been in), and the room export with its sensors."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests import pooled_data, reference
from tests.conftest import NOW, ClientFactory

TOL = 1e-9
START = NOW - timedelta(hours=6)
MOVE, MOVE_2 = pooled_data.moves(START)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def data(db: psycopg.Connection[Any], database_url: str) -> pooled_data.Data:
    written = pooled_data.write(db, START)
    pooled_data.rebuild_rollups(database_url, START - timedelta(days=1), NOW + timedelta(days=1))
    return written


def close(actual: float | None, expected: float | None) -> bool:
    if expected is None:
        return actual is None
    return actual is not None and abs(actual - expected) <= TOL


KEYS = {"default": "hq/r1/temperature", "a": "a", "b": "b", "c": "c"}


def test_sensor_average_is_the_sensors_own_in_every_room(
    client: TestClient, data: pooled_data.Data
) -> None:
    ats = [MOVE, MOVE + timedelta(minutes=5), MOVE_2 + timedelta(minutes=1), START, NOW]
    ats += sorted(data["b"].captures)[::25]
    for name, key in KEYS.items():
        for at in ats:
            for window, span in (("15m", timedelta(minutes=15)), ("1h", timedelta(hours=1))):
                r = client.get(
                    f"/v1/sensors/{key}/average", params={"at": iso(at), "window": window}
                )
                assert r.status_code == 200, r.text
                body = r.json()
                expected = reference.window(data[name].captures, at - span, at)
                assert body["sensor"] == key
                assert body["count"] == expected.count
                assert body["sensors"] == (1 if expected.count else 0)
                for f in ("mean", "min", "max", "time_weighted_mean"):
                    assert close(body[f], getattr(expected, f)), (key, at, f, body, expected)


@pytest.mark.parametrize("rollups", [False, True])
def test_sensor_series(
    client_factory: ClientFactory, data: pooled_data.Data, rollups: bool
) -> None:
    client = client_factory(rollup_reads=rollups)
    frm, to = START - timedelta(minutes=7), NOW
    for name in ("b", "c", "default"):
        body = client.get(
            f"/v1/sensors/{KEYS[name]}/averages",
            params={"from": iso(frm), "to": iso(to), "step": "5m", "window": "15m"},
        ).json()
        times = reference.series_times(frm, to, timedelta(minutes=5))
        assert [p["t"] for p in body["points"]] == [iso(t) for t in times]
        for point, t in zip(body["points"], times, strict=True):
            expected = reference.window(data[name].captures, t - timedelta(minutes=15), t)
            assert point["count"] == expected.count
            # points whose windows are empty in every room are filled in by select_series
            assert point["sensors"] == (1 if expected.count else 0), (name, t, point)
            for f in ("mean", "min", "max"):
                assert close(point[f], getattr(expected, f)), (name, t, point, expected)


@pytest.mark.parametrize(
    "path", ["/v1/sensors/nope/average", "/v1/sensors/hq/r9/temperature/averages?from=0&to=60",
             "/v1/sensors/hq/r1/humidity/captures", "/v1/sensors/a/b/c/d/average"]
)  # fmt: skip
def test_unknown_sensor_is_404(client: TestClient, data: pooled_data.Data, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found"


def _ids(db: psycopg.Connection[Any]) -> dict[int, str]:
    rows = db.execute("SELECT id, COALESCE(key, 'default') FROM sensor").fetchall()
    return {i: name for i, name in rows}


Row = tuple[datetime, int, str, float]


def _expected(
    data: pooled_data.Data, ids: dict[int, str], room: str | None, sensor: str | None
) -> list[Row]:
    """(ts, sensor id, key, value) of a room's or a sensor's captures in (ts, sensor) order."""
    by_name = {n: i for i, n in ids.items()}
    out: list[Row] = []
    for name, s in data.items():
        if sensor is not None and name != sensor:
            continue
        for t, v in s.captures.items():
            if room is None or s.room_at(t) == room:
                out.append((t, by_name[name], KEYS[name], v))
    return sorted(out)


def _pages(client: TestClient, path: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        body = client.get(path, params=params).json()
        got += body["captures"]
        cursor = body["next_cursor"]
        if cursor is None:
            return got


def test_room_export_pages_every_sensor_in_time_order(
    client: TestClient, db: psycopg.Connection[Any], data: pooled_data.Data
) -> None:
    ids = _ids(db)
    for room in pooled_data.ROOMS:
        got = _pages(client, f"/v1/buildings/hq/rooms/{room}/captures")
        expected = _expected(data, ids, room, None)
        assert [(c["ts"], c["sensor"], c["value"]) for c in got] == [
            (iso(t), key, v) for t, _, key, v in expected
        ]


def test_sensor_export_covers_every_room_it_was_in(
    client: TestClient, db: psycopg.Connection[Any], data: pooled_data.Data
) -> None:
    ids = _ids(db)
    for name in ("b", "default"):
        got = _pages(client, f"/v1/sensors/{KEYS[name]}/captures")
        expected = _expected(data, ids, None, name)
        assert [(c["ts"], c["value"]) for c in got] == [(iso(t), v) for t, _, _, v in expected]


def test_streamed_export_writes_each_sensor_in_its_capture_form(
    client: TestClient, db: psycopg.Connection[Any], data: pooled_data.Data
) -> None:
    ids = _ids(db)
    expected = _expected(data, ids, "r1", None)
    r = client.get("/v1/buildings/hq/rooms/r1/captures", headers={"Accept": "text/csv"})
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert list(rows[0]) == ["building", "room", "sensor_type", "sensor", "value", "unit", "ts"]
    assert len(rows) == len(expected)
    for row, (t, _, key, v) in zip(rows, expected, strict=True):
        assert datetime.fromisoformat(row["ts"]) == t
        assert float(row["value"]) == v
        if key == KEYS["default"]:
            assert (row["building"], row["room"], row["sensor_type"], row["sensor"]) == (
                "hq",
                "r1",
                "temperature",
                "",
            )
        else:
            assert (row["building"], row["room"], row["sensor_type"], row["sensor"]) == (
                "",
                "",
                "",
                key,
            )
    r = client.get("/v1/sensors/b/captures", headers={"Accept": "application/x-ndjson"})
    items = [json.loads(line) for line in r.text.splitlines()]
    assert {tuple(sorted(i)) for i in items} == {("sensor", "ts", "unit", "value")}
    assert len(items) == len(data["b"].captures)
