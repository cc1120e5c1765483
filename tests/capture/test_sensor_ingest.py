"""POST /v1/captures by sensor: identity per (sensor, ts), attribution by assignment at ts,
unknown keys refused and recorded, battery/signal, CSV and NDJSON with a sensor column.

Sensors are registered in SQL here (the /v1/sensors API is another package's)."""

from __future__ import annotations

import math
from typing import Any

import orjson
import psycopg
from fastapi.testclient import TestClient

from roomtemp.db import room_sensors
from tests.factories import capture
from tests.importer.test_import_export import assert_rollups_match_raw

TS = "2026-11-22T11:55:00Z"


def room_id(db: psycopg.Connection[Any], building: str, room: str) -> int:
    db.execute(
        "INSERT INTO building (key, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        [building, building],
    )
    row = db.execute(
        "INSERT INTO room (building_id, key, name) SELECT id, %s, %s FROM building WHERE key = %s"
        " ON CONFLICT (building_id, key) DO UPDATE SET name = EXCLUDED.name RETURNING id",
        [room, room, building],
    ).fetchone()
    assert row is not None
    return int(row[0])


def register(
    db: psycopg.Connection[Any], key: str, room: str = "3.14", *, building: str = "hq"
) -> int:
    """A temperature sensor `key` in hq/`room` since forever; its id."""
    rid = room_id(db, building, room)
    row = db.execute(
        "INSERT INTO sensor (key, sensor_type_id)"
        " SELECT %s, id FROM sensor_type WHERE key = 'temperature' RETURNING id",
        [key],
    ).fetchone()
    assert row is not None
    db.execute(
        "INSERT INTO sensor_assignment (sensor_id, valid_from, room_id)"
        " VALUES (%s, '-infinity', %s)",
        [row[0], rid],
    )
    db.execute(room_sensors.RECORD_ALL)
    return int(row[0])


def by_sensor(key: str, value: float, ts: str = TS, **extra: Any) -> dict[str, Any]:
    return {"sensor": key, "value": value, "unit": "celsius", "ts": ts, **extra}


def stored(db: psycopg.Connection[Any]) -> list[tuple[str, str | None, str, float]]:
    """(room key, sensor key (None: a default sensor), ts, value in °C), sorted."""
    return [
        (r, s, ts.isoformat(), round(v - 273.15, 9))
        for r, s, ts, v in db.execute(
            "SELECT r.key, s.key, c.ts, c.value FROM capture c JOIN room r ON r.id = c.room_id"
            " JOIN sensor s ON s.id = c.sensor_id ORDER BY 1, 2 NULLS FIRST, 3"
        )
    ]


def test_two_sensors_in_one_room_at_the_same_ts_are_both_stored(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    register(db, "zb-1")
    register(db, "zb-2")
    batch = [by_sensor("zb-1", 21.0), by_sensor("zb-2", 22.0), capture(23.0, ts=TS)]
    r = client.post("/v1/captures", json=batch)
    assert r.status_code == 201, r.text
    assert r.json() == {"inserted": 3, "duplicates": 0, "updated": 0}
    assert stored(db) == [
        ("3.14", None, "2026-11-22T11:55:00+00:00", 23.0),
        ("3.14", "zb-1", "2026-11-22T11:55:00+00:00", 21.0),
        ("3.14", "zb-2", "2026-11-22T11:55:00+00:00", 22.0),
    ]
    # One 15-minute bucket per sensor, none merged into another's.
    assert db.execute("SELECT count(*) FROM capture_rollup_15m").fetchone() == (3,)
    assert_rollups_match_raw(db)


def test_resend_is_idempotent_and_last_write_wins_per_sensor(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    register(db, "zb-1")
    register(db, "zb-2")
    first = [by_sensor("zb-1", 21.0), by_sensor("zb-2", 22.0)]
    assert client.post("/v1/captures", json=first).status_code == 201
    again = client.post("/v1/captures", json=first)
    assert again.json() == {"inserted": 0, "duplicates": 2, "updated": 0}
    changed = client.post("/v1/captures", json=[by_sensor("zb-1", 21.5), by_sensor("zb-2", 22.0)])
    assert changed.json() == {"inserted": 0, "duplicates": 1, "updated": 1}
    single = client.post("/v1/captures", json=by_sensor("zb-2", 22.0))
    assert single.status_code == 201
    assert single.json() == {"inserted": 0, "duplicates": 1, "updated": 0}
    assert [(s, v) for _, s, _, v in stored(db)] == [("zb-1", 21.5), ("zb-2", 22.0)]
    assert_rollups_match_raw(db)


def test_unknown_and_retired_sensors_are_refused_recorded_and_counted(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    db.execute("DELETE FROM unknown_sensor")
    register(db, "zb-1")
    retired = register(db, "zb-old")
    db.execute("UPDATE sensor SET retired_at = now() WHERE id = %s", [retired])
    batch = [by_sensor("zb-1", 21.0), by_sensor("zb-404", 21.0), by_sensor("zb-404", 21.1)]
    r = client.post("/v1/captures", json=batch)
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert [(d["index"], d["field"], d["code"]) for d in details] == [
        (1, "sensor", "unknown_sensor"),
        (2, "sensor", "unknown_sensor"),
    ]
    single = client.post("/v1/captures", json=by_sensor("zb-old", 21.0))
    assert single.status_code == 422
    [detail] = single.json()["error"]["details"]
    assert (detail["index"], detail["code"]) == (None, "unknown_sensor")
    assert "retired" in detail["message"]
    assert stored(db) == []  # nothing stored half-way
    assert db.execute(
        "SELECT key, refused, first_seen <= last_seen FROM unknown_sensor ORDER BY key"
    ).fetchall() == [("zb-404", 2, True), ("zb-old", 1, True)]
    assert client.post("/v1/captures", json=by_sensor("zb-404", 1.0)).status_code == 422
    assert db.execute("SELECT refused FROM unknown_sensor WHERE key = 'zb-404'").fetchone() == (3,)
    lines = client.get("/metrics").text.splitlines()
    assert "roomtemp_unknown_sensor_captures_total 4.0" in lines


def test_mixing_the_forms_in_one_item_is_a_validation_error(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    register(db, "zb-1")
    r = client.post("/v1/captures", json=[by_sensor("zb-1", 21.0, building="hq", room="3.14")])
    assert r.status_code == 422
    details = r.json()["error"]["details"]
    assert [(d["index"], d["field"], d["code"]) for d in details] == [
        (0, "building", "mixed_forms"),
        (0, "room", "mixed_forms"),
    ]
    assert "either a sensor or a building and room" in details[0]["message"]
    bad = client.post("/v1/captures", json=by_sensor("zb-1", 21.0, battery=101, signal="x"))
    assert {(d["field"], d["code"]) for d in bad.json()["error"]["details"]} == {
        ("battery", "less_than_equal"),
        ("signal", "float_type"),
    }
    unit = client.post("/v1/captures", json=by_sensor("zb-1", 50.0, unit="%"))
    assert unit.json()["error"]["details"][0]["code"] == "bad_unit"
    assert stored(db) == []


def test_a_default_sensors_computed_key_is_the_building_room_form(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    assert client.post("/v1/captures", json=capture(21.0, ts=TS)).status_code == 201
    r = client.post("/v1/captures", json=by_sensor("hq/3.14/temperature", 21.0))
    assert r.json() == {"inserted": 0, "duplicates": 1, "updated": 0}
    assert client.post("/v1/captures", json=by_sensor("hq/nowhere/temperature", 1)).status_code == (
        422
    )


def test_a_late_capture_after_a_move_goes_to_the_old_room(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    sid = register(db, "zb-1", "a")
    new_room = room_id(db, "hq", "b")
    db.execute(
        "INSERT INTO sensor_assignment (sensor_id, valid_from, room_id)"
        " VALUES (%s, '2026-11-22T11:00:00Z', %s)",
        [sid, new_room],
    )
    db.execute(room_sensors.RECORD_ALL)
    batch = [
        by_sensor("zb-1", 20.0, ts="2026-11-22T10:59:59Z"),  # late, from before the move
        by_sensor("zb-1", 21.0, ts="2026-11-22T11:00:00Z"),  # the move's instant: new room
        by_sensor("zb-1", 22.0, ts="2026-11-22T11:30:00Z"),
    ]
    assert client.post("/v1/captures", json=batch).status_code == 201
    assert stored(db) == [
        ("a", "zb-1", "2026-11-22T10:59:59+00:00", 20.0),
        ("b", "zb-1", "2026-11-22T11:00:00+00:00", 21.0),
        ("b", "zb-1", "2026-11-22T11:30:00+00:00", 22.0),
    ]
    assert_rollups_match_raw(db)


def test_battery_and_signal_keep_the_newest_report(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    sid = register(db, "zb-1")
    newer = by_sensor("zb-1", 21.0, ts="2026-11-22T11:50:00Z", battery=80, signal=-71.5)
    older = by_sensor("zb-1", 21.0, ts="2026-11-22T11:40:00Z", battery=81, signal=-70.0)
    assert client.post("/v1/captures", json=[newer, older]).status_code == 201
    status = "SELECT reported_at, battery, signal FROM sensor_status WHERE sensor_id = %s"
    [(at, battery, signal)] = db.execute(status, [sid]).fetchall()
    assert (at.isoformat(), battery, signal) == ("2026-11-22T11:50:00+00:00", 80.0, -71.5)
    # A late capture does not roll the status back; a newer one moves it on.
    assert client.post("/v1/captures", json=older).status_code == 201
    assert db.execute(status, [sid]).fetchall()[0][1] == 80.0
    latest = by_sensor("zb-1", 21.0, ts="2026-11-22T11:55:00Z", battery=79.5)
    assert client.post("/v1/captures", json=latest).status_code == 201
    assert db.execute(status, [sid]).fetchall()[0][1:] == (79.5, None)


def test_csv_and_ndjson_with_a_sensor_column_mix_the_forms(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    register(db, "zb-1")
    body = (
        "sensor,building,room,value,unit,ts,battery\n"
        f"zb-1,,,21.0,celsius,{TS},95\n"
        f",hq,3.14,22.0,celsius,{TS},\n"
        f"zb-1,hq,,23.0,celsius,2026-11-22T11:56:00Z,\n"
    )
    r = client.post("/v1/captures", content=body, headers={"content-type": "text/csv"})
    assert r.status_code == 422
    assert [(d["index"], d["code"]) for d in r.json()["error"]["details"]] == [(2, "mixed_forms")]
    ok = client.post(
        "/v1/captures",
        content=body.rsplit("\n", 2)[0] + "\n",
        headers={"content-type": "text/csv"},
    )
    assert ok.json() == {"inserted": 2, "duplicates": 0, "updated": 0}
    lines = [by_sensor("zb-1", 21.0), by_sensor("zb-1", 24.0, ts="2026-11-22T11:57:00Z")]
    nd = client.post(
        "/v1/captures",
        content=b"\n".join(orjson.dumps(x) for x in lines),
        headers={"content-type": "application/x-ndjson"},
    )
    assert nd.json() == {"inserted": 1, "duplicates": 1, "updated": 0}
    assert [(s, v) for _, s, _, v in stored(db)] == [(None, 22.0), ("zb-1", 21.0), ("zb-1", 24.0)]
    battery = db.execute("SELECT battery FROM sensor_status").fetchone()
    assert battery is not None
    assert math.isclose(battery[0], 95.0)
