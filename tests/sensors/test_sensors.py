"""The sensor registry against real PostgreSQL: CRUD, pagination and filters, bulk registration
from the unknown list, delete modes, moves with history, silent sensors and their gauge."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from roomtemp.__main__ import main
from roomtemp.db import room_sensors
from roomtemp.db.engine import create_engine
from roomtemp.rollup import service as rollup
from tests.conftest import NOW, ClientFactory, make_settings

ROLLUPS = ("capture_rollup_15m", "capture_rollup_1h", "capture_rollup_1d")


def sensor(key: str, room: str = "r1", *, building: str = "hq", **extra: Any) -> dict[str, Any]:
    return {"key": key, "sensor_type": "temperature", "building": building, "room": room, **extra}


def add_captures(
    db: psycopg.Connection[Any], key: str, building: str, room: str, points: list[tuple[int, float]]
) -> None:
    """Captures of a sensor in a room at NOW - minutes, written with SQL (not through ingest)."""
    for minutes, value in points:
        db.execute(
            "INSERT INTO capture (ts, value, room_id, sensor_id)"
            " SELECT %s, %s, r.id, s.id FROM sensor s, room r JOIN building b"
            " ON b.id = r.building_id WHERE s.key = %s AND b.key = %s AND r.key = %s",
            (NOW - timedelta(minutes=minutes), value, key, building, room),
        )


def add_default_sensor(db: psycopg.Connection[Any], building: str, room: str) -> None:
    """A room's default temperature sensor, as ingest's building/room form creates it."""
    db.execute(
        "INSERT INTO building (key, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (building, building),
    )
    db.execute(
        "INSERT INTO room (building_id, key, name) SELECT id, %s, %s FROM building WHERE key = %s"
        " ON CONFLICT DO NOTHING",
        (room, room, building),
    )
    db.execute(
        "WITH s AS (INSERT INTO sensor (sensor_type_id, default_room_id, created_at)"
        " SELECT st.id, r.id, %s FROM sensor_type st, room r JOIN building b"
        " ON b.id = r.building_id WHERE st.key = 'temperature' AND b.key = %s AND r.key = %s"
        " RETURNING id, default_room_id)"
        " INSERT INTO sensor_assignment (sensor_id, valid_from, room_id)"
        " SELECT id, '-infinity', default_room_id FROM s",
        (NOW, building, room),
    )
    db.execute(room_sensors.RECORD_ALL)


def room_captures(db: psycopg.Connection[Any], room: str) -> list[tuple[datetime, float]]:
    rows = db.execute(
        "SELECT c.ts, c.value FROM capture c JOIN room r ON r.id = c.room_id"
        " WHERE r.key = %s ORDER BY c.ts",
        (room,),
    ).fetchall()
    return [(ts, value) for ts, value in rows]


def _rounded(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # Sums of the same captures added in another order may differ in the last bit.
    return tuple(float(f"{v:.12g}") if isinstance(v, float) else v for v in row)


def rollup_rows(db: psycopg.Connection[Any]) -> dict[str, set[tuple[Any, ...]]]:
    return {
        t: {_rounded(tuple(r)) for r in db.execute(f"SELECT * FROM {t}").fetchall()}
        for t in ROLLUPS
    }


def assert_rollups_exact(db: psycopg.Connection[Any], database_url: str) -> None:
    """The rollups as left by the operation equal rollup.service.rebuild's from scratch."""
    kept = rollup_rows(db)
    db.execute("TRUNCATE " + ", ".join(ROLLUPS))

    async def rebuild() -> None:
        engine = create_engine(make_settings(database_url=database_url), database_url)
        try:
            async with engine.begin() as conn:
                await rollup.rebuild(conn, NOW - timedelta(days=3), NOW + timedelta(days=1))
        finally:
            await engine.dispose()

    asyncio.run(rebuild())
    rebuilt = rollup_rows(db)
    for table in ROLLUPS:
        assert (sorted(rebuilt[table] - kept[table]), sorted(kept[table] - rebuilt[table])) == (
            [],
            [],
        ), table


def test_register_get_rename(client: TestClient) -> None:
    r = client.post("/v1/sensors", json=sensor("zb-1", name="wall"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert {k: body[k] for k in ("key", "default", "sensor_type", "building", "room", "name")} == {
        "key": "zb-1",
        "default": False,
        "sensor_type": "temperature",
        "building": "hq",
        "room": "r1",
        "name": "wall",
    }
    assert body["last_capture_at"] is None
    assert body["battery"] is None
    # The room was auto-registered, as the building/room capture form does.
    assert client.get("/v1/buildings/hq/rooms/r1").status_code == 200
    assert client.get("/v1/sensors/zb-1").json() == body
    r = client.patch("/v1/sensors/zb-1", json={"name": "window"})
    assert r.status_code == 200
    assert r.json()["name"] == "window"
    again = client.post("/v1/sensors", json=sensor("zb-1"))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "sensor_exists"
    bad = client.post("/v1/sensors", json={**sensor("zb-2"), "sensor_type": "nope"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["code"] == "unknown_sensor_type"
    assert client.get("/v1/sensors/zb-2").status_code == 404
    assert client.post("/v1/sensors", json={**sensor("a/b")}).status_code == 422
    reserved = client.post("/v1/sensors", json=sensor("unknown"))
    assert reserved.json()["error"]["details"][0]["code"] == "reserved_key"


def test_no_auto_register_refuses_unknown_rooms(client_factory: ClientFactory) -> None:
    """The detail names the field that is wrong: the building when it does not exist either."""
    client = client_factory(auto_register=False)

    def problem(r: Any) -> tuple[int, str, str]:
        detail = r.json()["error"]["details"][0]
        return r.status_code, detail["field"], detail["code"]

    r = client.post("/v1/sensors", json=sensor("zb-1"))
    assert problem(r) == (422, "building", "unknown_building")
    assert client.put("/v1/buildings/hq", json={"name": "HQ"}).status_code == 201
    r = client.post("/v1/sensors", json=sensor("zb-1"))
    assert problem(r) == (422, "room", "unknown_room")
    assert client.put("/v1/buildings/hq/rooms/r1", json={"name": "R1"}).status_code == 201
    assert client.post("/v1/sensors", json=sensor("zb-1")).status_code == 201
    move = client.post("/v1/sensors/zb-1/moves", json={"building": "annex", "room": "lab"})
    assert problem(move) == (422, "building", "unknown_building")
    move = client.post("/v1/sensors/zb-1/moves", json={"building": "hq", "room": "lab"})
    assert problem(move) == (422, "room", "unknown_room")


def test_bulk_register_from_the_unknown_list(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    for key, refused in (("zb-a", 3), ("zb-b", 1), ("zb-c", 7)):
        for i in range(refused):
            ts = (NOW - timedelta(minutes=i)).isoformat()
            r = client.post("/v1/captures", json={"sensor": key, "value": 290.0, "ts": ts})
            assert r.status_code == 422
            assert r.json()["error"]["details"][0]["code"] == "unknown_sensor"
    unknown = client.get("/v1/sensors/unknown").json()
    assert [(u["key"], u["refused"]) for u in unknown["items"]] == [
        ("zb-a", 3),
        ("zb-b", 1),
        ("zb-c", 7),
    ]
    keys = [u["key"] for u in unknown["items"][:2]]
    # One key already registered: the whole array is refused, nothing stored.
    client.post("/v1/sensors", json=sensor("zb-x"))
    r = client.post("/v1/sensors", json=[sensor(k) for k in [*keys, "zb-x"]])
    assert r.status_code == 409
    assert [u["key"] for u in client.get("/v1/sensors/unknown").json()["items"]] == [
        "zb-a",
        "zb-b",
        "zb-c",
    ]
    r = client.post("/v1/sensors", json=[sensor(k, room="r2") for k in keys])
    assert r.status_code == 201, r.text
    assert [s["key"] for s in r.json()["items"]] == keys
    assert [u["key"] for u in client.get("/v1/sensors/unknown").json()["items"]] == ["zb-c"]
    assert client.post("/v1/sensors", json=[]).status_code == 422
    twice = client.post("/v1/sensors", json=[sensor("zb-q"), sensor("zb-q")])
    assert twice.status_code == 422


def test_pagination_and_filters(client: TestClient, db: psycopg.Connection[Any]) -> None:
    client.put(
        "/v1/sensor-types/humidity", json={"unit": "percent", "min_value": 0, "max_value": 100}
    )
    keys = [f"s{i:02d}" for i in range(7)]
    client.post(
        "/v1/sensors",
        json=[
            sensor(k, room=f"r{i % 2}", building="hq" if i < 5 else "annex")
            for i, k in enumerate(keys)
        ],
    )
    client.post("/v1/sensors", json={**sensor("h1"), "sensor_type": "humidity"})
    add_default_sensor(db, "hq", "r0")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/sensors", params=params).json()
        seen += [s["key"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted([*keys, "h1", "hq/r0/temperature"])
    default = client.get("/v1/sensors/hq/r0/temperature").json()
    assert (default["default"], default["building"], default["room"]) == (True, "hq", "r0")

    def listed(**params: Any) -> list[str]:
        r = client.get("/v1/sensors", params=params)
        assert r.status_code == 200, r.text
        return [s["key"] for s in r.json()["items"]]

    assert listed(building="annex") == ["s05", "s06"]
    assert listed(building="hq", room="r1") == ["h1", "s01", "s03"]
    assert listed(sensor_type="humidity") == ["h1"]
    assert client.get("/v1/sensors", params={"room": "r1"}).status_code == 422
    assert client.get("/v1/sensors", params={"silent_for": "soon"}).status_code == 422
    assert client.get("/v1/sensors", params={"cursor": "!!"}).status_code == 422


def test_delete_modes(client: TestClient, db: psycopg.Connection[Any], database_url: str) -> None:
    client.post(
        "/v1/sensors", json=[sensor("empty"), sensor("kept"), sensor("gone"), sensor("other")]
    )
    add_default_sensor(db, "hq", "r1")
    for key in ("kept", "gone", "other"):
        add_captures(db, key, "hq", "r1", [(m, 20.0 + m / 10) for m in range(0, 300, 7)])
    assert client.delete("/v1/sensors/empty").json() == {
        "key": "empty",
        "outcome": "deleted",
        "captures_deleted": 0,
    }
    refused = client.delete("/v1/sensors/gone")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "sensor_has_captures"
    default = client.delete("/v1/sensors/hq/r1/temperature")
    assert default.status_code == 409
    assert default.json()["error"]["code"] == "default_sensor"

    r = client.delete("/v1/sensors/kept", params={"captures": "keep"})
    assert r.json()["outcome"] == "retired"
    assert client.get("/v1/sensors/kept").json()["retired_at"] == NOW.isoformat().replace(
        "+00:00", "Z"
    )
    assert "kept" not in [s["key"] for s in client.get("/v1/sensors").json()["items"]]
    late = client.post(
        "/v1/captures", json={"sensor": "kept", "value": 290.0, "ts": NOW.isoformat()}
    )
    assert late.status_code == 422
    assert late.json()["error"]["details"][0]["code"] == "unknown_sensor"
    assert "kept" in [
        s["key"]
        for s in client.get("/v1/sensors", params={"include_retired": True}).json()["items"]
    ]

    # The rollups as ingest keeps them, then the captures of one sensor deleted.
    asyncio_rebuild(database_url)
    before = len(room_captures(db, "r1"))
    r = client.delete("/v1/sensors/gone", params={"captures": "delete"})
    assert r.status_code == 200, r.text
    assert r.json() == {"key": "gone", "outcome": "deleted", "captures_deleted": 43}
    assert len(room_captures(db, "r1")) == before - 43
    assert client.get("/v1/sensors/gone").status_code == 404
    assert_rollups_exact(db, database_url)


def asyncio_rebuild(database_url: str) -> None:
    async def rebuild() -> None:
        engine = create_engine(make_settings(database_url=database_url), database_url)
        try:
            async with engine.begin() as conn:
                await rollup.rebuild(conn, NOW - timedelta(days=3), NOW + timedelta(days=1))
        finally:
            await engine.dispose()

    asyncio.run(rebuild())


def test_move_reattributes_captures_and_rollups(
    client: TestClient, db: psycopg.Connection[Any], database_url: str
) -> None:
    client.post("/v1/sensors", json=[sensor("mover", room="r1"), sensor("stay", room="r2")])
    add_captures(db, "mover", "hq", "r1", [(m, 18.0 + m / 7) for m in range(0, 240, 5)])
    add_captures(db, "stay", "hq", "r2", [(m, 22.0) for m in range(0, 240, 10)])
    asyncio_rebuild(database_url)
    start = NOW - timedelta(minutes=100)
    r = client.post(
        "/v1/sensors/mover/moves", json={"building": "hq", "room": "r2", "from": start.isoformat()}
    )
    assert r.status_code == 201, r.text
    assert r.json()["captures_moved"] == 21  # minutes 0, 5, … 100
    assert r.json()["from"] == start.isoformat().replace("+00:00", "Z")
    assert all(ts < start for ts, _ in room_captures(db, "r1"))
    assert len(room_captures(db, "r2")) == 24 + 21
    assert_rollups_exact(db, database_url)
    history = client.get("/v1/sensors/mover/assignments").json()["items"]
    assert [(a["room"], a["from"], a["to"]) for a in history] == [
        ("r1", None, r.json()["from"]),
        ("r2", r.json()["from"], None),
    ]
    assert client.get("/v1/sensors/mover").json()["room"] == "r2"
    # Late captures follow the assignment at their own timestamp.
    before, after = start - timedelta(seconds=30), start + timedelta(seconds=30)
    for ts in (before, after):
        posted = client.post(
            "/v1/captures", json={"sensor": "mover", "value": 291.0, "ts": ts.isoformat()}
        )
        assert posted.status_code in (200, 201), posted.text
    assert before in [ts for ts, _ in room_captures(db, "r1")]
    assert after in [ts for ts, _ in room_captures(db, "r2")]
    assert_rollups_exact(db, database_url)
    too_early = client.post(
        "/v1/sensors/mover/moves",
        json={"building": "hq", "room": "r3", "from": (start - timedelta(minutes=1)).isoformat()},
    )
    assert too_early.status_code == 409
    assert too_early.json()["error"]["code"] == "move_not_after_latest"
    same = client.post("/v1/sensors/mover/moves", json={"building": "hq", "room": "r2"})
    assert same.json()["error"]["code"] == "sensor_already_there"
    # Default now: a move to a new room, auto-registered.
    now_move = client.post("/v1/sensors/mover/moves", json={"building": "annex", "room": "lab"})
    assert now_move.status_code == 201
    assert now_move.json()["captures_moved"] == 1  # the capture at NOW itself
    add_default_sensor(db, "hq", "r9")
    default = client.post(
        "/v1/sensors/hq/r9/temperature/moves", json={"building": "hq", "room": "r1"}
    )
    assert default.json()["error"]["code"] == "default_sensor"


def test_silent_sensors_list_and_gauge(
    client_factory: ClientFactory, db: psycopg.Connection[Any]
) -> None:
    setup = client_factory()
    setup.post("/v1/sensors", json=[sensor("fresh"), sensor("stale"), sensor("never")])
    setup.post(
        "/v1/sensors", json=[sensor("far", building="annex"), sensor("gone", building="annex")]
    )
    setup.delete("/v1/sensors/gone", params={"captures": "keep"})
    add_captures(db, "fresh", "hq", "r1", [(10, 20.0)])
    add_captures(db, "stale", "hq", "r1", [(90, 20.0)])
    add_captures(db, "far", "annex", "r1", [(5, 20.0)])
    db.execute("UPDATE sensor SET created_at = %s WHERE key = 'never'", (NOW - timedelta(hours=3),))
    db.execute(
        "INSERT INTO sensor_status (sensor_id, reported_at, battery, signal)"
        " SELECT id, %s, 87.5, -71 FROM sensor WHERE key = 'fresh'",
        (NOW - timedelta(minutes=10),),
    )
    fresh = setup.get("/v1/sensors/fresh").json()
    assert fresh["last_capture_at"] == (NOW - timedelta(minutes=10)).isoformat().replace(
        "+00:00", "Z"
    )
    assert (fresh["battery"], fresh["signal"]) == (87.5, -71.0)
    silent = setup.get("/v1/sensors", params={"silent_for": "30m"}).json()["items"]
    assert [s["key"] for s in silent] == ["never", "stale"]
    assert [
        s["key"] for s in setup.get("/v1/sensors", params={"silent_for": "2h"}).json()["items"]
    ] == ["never"]

    client = client_factory(silent_sensor_minutes=60, silent_sensor_refresh_seconds=0.05)
    wanted = {"annex": 0.0, "hq": 2.0}
    deadline = time.monotonic() + 10
    while True:
        text = client.get("/metrics").text
        found = {
            b: float(v)
            for b, v in re.findall(
                r'^roomtemp_silent_sensors\{building="([^"]+)"\} (\S+)$', text, re.M
            )
        }
        if found == wanted or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert found == wanted
    # The gauge follows the data on its next refresh, not per scrape.
    add_captures(db, "stale", "hq", "r1", [(1, 20.0)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and 'roomtemp_silent_sensors{building="hq"} 1.0' not in (
        text := client.get("/metrics").text
    ):
        time.sleep(0.05)
    assert 'roomtemp_silent_sensors{building="hq"} 1.0' in text


def test_cli(
    db: psycopg.Connection[Any],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    db.execute(
        "INSERT INTO unknown_sensor (key, first_seen, last_seen, refused)"
        " VALUES ('zb-9', %s, %s, 4)",
        (NOW, NOW),
    )
    assert main(["sensors", "unknown"]) == 0
    assert "zb-9" in capsys.readouterr().out
    args = ["--sensor-type", "temperature", "--building", "hq", "--room", "r1"]
    assert main(["sensors", "add", "zb-9", *args, "--name", "wall"]) == 0
    assert main(["sensors", "add", "zb-9", *args]) == 1  # sensor_exists
    capsys.readouterr()
    assert main(["sensors", "unknown"]) == 0
    assert "zb-9" not in capsys.readouterr().out
    assert main(["sensors", "list", "--building", "hq"]) == 0
    assert re.search(r"^zb-9 +temperature +hq/r1 ", capsys.readouterr().out, re.M)
    assert main(["sensors", "move", "zb-9", "--building", "hq", "--room", "r2"]) == 0
    assert "moved zb-9 to hq/r2" in capsys.readouterr().out
    assert main(["sensors", "history", "zb-9"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["hq/r1", "hq/r2"]
    assert main(["sensors", "show", "zb-9"]) == 0
    assert "hq/r2" in capsys.readouterr().out
    assert main(["sensors", "delete", "zb-9"]) == 0
    assert "deleted zb-9" in capsys.readouterr().out
    assert main(["sensors", "show", "zb-9"]) == 1
