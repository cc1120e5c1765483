"""roomtemp-postgres.json on rooms with several sensors, moved sensors and silent sensors.

The data is written straight into the tables (sensors, assignments, captures, status), so these
checks do not depend on the API; the expected numbers come from plain Python over the same
rows: pooled count/mean/min/max per room, each sensor's own rolling mean, the silent list.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from roomtemp.db import room_sensors
from tests.conftest import NOW
from tests.dashboard.grafana_variables import hidden_values

DASHBOARDS = Path(__file__).resolve().parents[2] / "helm" / "roomtemp" / "dashboards"
WINDOW = timedelta(minutes=15)
K = 273.15  # stored values are kelvin; the checks read the panels in celsius
MOVE = NOW - timedelta(hours=2)  # zb-b moves from the lobby into 3.14 here


@dataclass(frozen=True)
class Row:
    sensor: str
    room: str
    ts: datetime
    celsius: float


def _rows() -> list[Row]:
    rows: list[Row] = []
    for m in range(1, 240, 5):  # zb-a in 3.14 every 5 minutes for 4 hours
        rows.append(Row("zb-a", "3.14", NOW - timedelta(minutes=m), 21 + math.sin(m / 17)))
    for m in range(1, 240, 10):  # zb-b: the lobby before the move, 3.14 after; some equal ts
        ts = NOW - timedelta(minutes=m)
        rows.append(Row("zb-b", "3.14" if ts >= MOVE else "lobby", ts, 19 + math.cos(m / 11)))
    for m in (3, 8, 33):  # the room's default sensor (building/room form)
        rows.append(Row("hq/3.14/temperature", "3.14", NOW - timedelta(minutes=m), 22.5 - m / 100))
    rows.append(Row("zb-silent", "3.14", NOW - timedelta(hours=3), 20.0))
    rows.append(Row("zb-retired", "3.14", NOW - timedelta(hours=5), 20.0))
    return rows


def _seed(db: psycopg.Connection[Any]) -> None:
    b = db.execute("INSERT INTO building (key, name) VALUES ('hq', '') RETURNING id").fetchone()
    assert b is not None
    rooms: dict[str, int] = {}
    for key in ("3.14", "lobby"):
        r = db.execute(
            "INSERT INTO room (building_id, key, name) VALUES (%s, %s, '') RETURNING id",
            (b[0], key),
        ).fetchone()
        assert r is not None
        rooms[key] = r[0]
    st = db.execute("SELECT id FROM sensor_type WHERE key = 'temperature'").fetchone()
    assert st is not None
    sensors: dict[str, int] = {}
    registered = NOW - timedelta(days=2)
    for key, room, created, retired in (
        ("zb-a", "3.14", registered, None),
        ("zb-b", "lobby", registered, None),
        ("hq/3.14/temperature", "3.14", registered, None),
        ("zb-silent", "3.14", registered, None),
        ("zb-new", "3.14", NOW - timedelta(hours=2), None),  # never sent: silent since created
        ("zb-fresh", "3.14", NOW - timedelta(minutes=10), None),  # never sent, not silent yet
        ("zb-retired", "3.14", registered, NOW - timedelta(hours=4)),
    ):
        default = "/" in key
        s = db.execute(
            "INSERT INTO sensor (key, sensor_type_id, default_room_id, created_at, retired_at)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (None if default else key, st[0], rooms[room] if default else None, created, retired),
        ).fetchone()
        assert s is not None
        sensors[key] = s[0]
        db.execute(
            "INSERT INTO sensor_assignment (sensor_id, valid_from, room_id)"
            " VALUES (%s, '-infinity', %s)",
            (s[0], rooms[room]),
        )
        db.execute(room_sensors.RECORD_ALL)
    db.execute(
        "INSERT INTO sensor_assignment (sensor_id, valid_from, room_id) VALUES (%s, %s, %s)",
        (sensors["zb-b"], MOVE, rooms["3.14"]),
    )
    db.execute(room_sensors.RECORD_ALL)
    db.execute(
        "INSERT INTO sensor_status (sensor_id, reported_at, battery, signal)"
        " VALUES (%s, %s, 7, -91)",
        (sensors["zb-silent"], NOW - timedelta(hours=3)),
    )
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO capture (ts, value, room_id, sensor_id) VALUES (%s, %s, %s, %s)",
            [(r.ts, r.celsius + K, rooms[r.room], sensors[r.sensor]) for r in _rows()],
        )


def _panels() -> dict[int, str]:
    dashboard = json.loads((DASHBOARDS / "roomtemp-postgres.json").read_text())
    return {p["id"]: p["targets"][0]["rawSql"] for p in dashboard["panels"]}


def _run(db: psycopg.Connection[Any], sql: str, **extra: str) -> list[tuple[Any, ...]]:
    values = {
        "__timeFrom()": f"'{(NOW - timedelta(hours=3)).isoformat()}'",
        "__timeTo()": f"'{NOW.isoformat()}'",
        "__interval_ms": "60000",
        "building": "hq",
        "room": "3.14",
        "unit": "celsius",
        "sensor": "*",
        "silent": "60",
        "default_time_zone": "UTC",
        **extra,
    }
    values |= hidden_values(db, values)
    for name in sorted(values, key=len, reverse=True):
        sql = sql.replace("$" + name, values[name])
    assert "$" not in sql
    return db.execute(sql).fetchall()


def _close(got: Any, want: float | None) -> bool:
    return (got is None and want is None) or (
        got is not None and want is not None and abs(float(got) - want) < 1e-9
    )


def test_rooms_table_pools_every_sensor(db: psycopg.Connection[Any]) -> None:
    _seed(db)
    rows = _run(db, _panels()[1])
    start = NOW - WINDOW
    assert [r[0] for r in rows] == ["3.14", "lobby"]
    for room, mean, low, high, count, sensors, last_ts in rows:
        in_room = [r for r in _rows() if r.room == room]
        window = [r.celsius for r in in_room if start < r.ts <= NOW]
        assert count == len(window)
        assert sensors == len({r.sensor for r in in_room if start < r.ts <= NOW})
        assert last_ts == max(r.ts for r in in_room)
        if window:
            assert _close(mean, sum(window) / len(window))
            assert _close(low, min(window))
            assert _close(high, max(window))
    assert rows[0][5] == 3  # zb-a, zb-b and the default sensor sent in the last 15 minutes


def test_room_series_pools_and_counts_sensors(db: psycopg.Connection[Any]) -> None:
    _seed(db)
    rows = _run(db, _panels()[2])
    assert len(rows) == 180
    assert {r[5] for r in rows} >= {2, 3}  # before and after zb-b's move, with the default sensor
    for t, mean, low, high, count, sensors in rows:
        window = [r for r in _rows() if r.room == "3.14" and t - WINDOW < r.ts <= t]
        values = [r.celsius for r in window]
        assert (count, sensors) == (len(values), len({r.sensor for r in window}))
        if values:
            assert _close(mean, sum(values) / len(values))
            assert _close(low, min(values))
            assert _close(high, max(values))


@pytest.mark.parametrize("chosen", ["*", "zb-b", "hq/3.14/temperature"])
def test_per_sensor_series(db: psycopg.Connection[Any], chosen: str) -> None:
    """One line per sensor that has been in the room, over all its captures (zb-b's in the lobby
    too, as /v1/sensors/{key}/averages); $sensor picks one."""
    _seed(db)
    rows = _run(db, _panels()[3], sensor=chosen)
    everyone = ["hq/3.14/temperature", "zb-a", "zb-b", "zb-fresh", "zb-new", "zb-retired"]
    everyone.append("zb-silent")
    keys = sorted({r[1] for r in rows})
    assert keys == (sorted(everyone) if chosen == "*" else [chosen])
    assert len(rows) == 180 * len(keys)
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # time-series format: by time
    for t, key, mean in rows:
        window = [r.celsius for r in _rows() if r.sensor == key and t - WINDOW < r.ts <= t]
        assert _close(mean, sum(window) / len(window) if window else None), (t, key)
    lobby_part = [r for r in rows if r[1] == "zb-b" and r[0] < MOVE and r[2] is not None]
    assert lobby_part or chosen not in ("*", "zb-b")


@pytest.mark.parametrize(("minutes", "expected"), [
    ("60", ["zb-new", "zb-silent"]),
    ("150", ["zb-silent"]),
    ("5", ["zb-fresh", "zb-new", "zb-silent"]),
    ("1440", []),
])  # fmt: skip
def test_silent_sensors(db: psycopg.Connection[Any], minutes: str, expected: list[str]) -> None:
    _seed(db)
    rows = _run(db, _panels()[4], silent=minutes)
    assert sorted(r[0] for r in rows) == expected
    for sensor, room, sensor_type, last, battery, signal, status_at in rows:
        assert (room, sensor_type) == ("3.14", "temperature")
        if sensor == "zb-silent":
            assert last == NOW - timedelta(hours=3)
            assert (battery, signal, status_at) == (7, -91, NOW - timedelta(hours=3))
        else:
            assert last is None
            assert battery is None


def test_sensor_variable_lists_the_room_s_sensors(db: psycopg.Connection[Any]) -> None:
    _seed(db)
    dashboard = json.loads((DASHBOARDS / "roomtemp-postgres.json").read_text())
    variable = next(v for v in dashboard["templating"]["list"] if v["name"] == "sensor")
    assert (variable["includeAll"], variable["allValue"]) == (True, "*")
    keys = [r[0] for r in _run(db, variable["query"])]
    assert keys == sorted(
        ["hq/3.14/temperature", "zb-a", "zb-b", "zb-fresh", "zb-new", "zb-retired", "zb-silent"]
    )
    assert [r[0] for r in _run(db, variable["query"], room="lobby")] == ["zb-b"]
