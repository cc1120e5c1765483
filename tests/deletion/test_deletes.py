"""Deletes with rules against real PostgreSQL: refusals and their error envelope, deletes with
captures, sensor types, capture ranges with every rollup level checked against a recompute
from the raw captures in Python, retries, the audit through the API, renames, scopes."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.capture import service as ingest
from roomtemp.capture.schemas import CaptureIn
from roomtemp.db.locks import ROOM_LOCK_CLASS
from tests.conftest import NOW, ClientFactory
from tests.deletion.support import ROLLUPS, assert_rollups_match_raw
from tests.factories import capture
from tests.system.ops.server import TOKEN_HASH_KEY, issue_token

_POLICY = ingest.IngestPolicy(
    auto_register=True, max_batch_size=100, max_future_skew=timedelta(minutes=5)
)
DAY = NOW.replace(hour=0) - timedelta(days=1)  # 2026-11-21T00:00Z, a whole UTC day


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def post_series(
    client: TestClient,
    room: str,
    start: datetime,
    minutes: int,
    *,
    building: str = "hq",
    sensor: str | None = None,
    step: int = 1,
) -> int:
    """One capture every `step` minutes from `start` for `minutes` minutes; how many."""
    body = []
    for m in range(0, minutes, step):
        value = 19.0 + (m * 37 % 70) / 10  # 19.0 … 25.9, both sides of the comfort bounds
        ts = start + timedelta(minutes=m)
        if sensor is None:
            body.append(capture(value, building=building, room=room, ts=ts))
        else:
            body.append({"sensor": sensor, "value": value, "unit": "celsius", "ts": iso(ts)})
    for i in range(0, len(body), 2000):
        r = client.post("/v1/captures", json=body[i : i + 2000])
        assert r.status_code == 201, r.text
    return len(body)


def count(db: psycopg.Connection[Any], sql: str, *args: Any) -> int:
    return int(db.execute(sql, args).fetchone()[0])  # type: ignore[index]


def error(r: Any, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    return message


def test_room_is_refused_while_it_has_captures_then_deleted_with_them(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    n = post_series(client, "r1", DAY, 120)
    post_series(client, "r2", DAY, 60)
    message = error(client.delete("/v1/buildings/hq/rooms/r1"), 409, "has_captures")
    assert f"{n} captures" in message
    assert "?captures=delete" in message
    assert count(db, "SELECT count(*) FROM capture") == n + 60  # nothing happened

    r = client.delete("/v1/buildings/hq/rooms/r1", params={"captures": "delete"})
    assert r.status_code == 200, r.text
    entry = r.json()
    assert {k: entry[k] for k in ("kind", "building", "room", "captures_deleted", "by")} == {
        "kind": "room",
        "building": "hq",
        "room": "r1",
        "captures_deleted": n,
        "by": "anonymous",
    }
    assert entry["token"] is None
    assert entry["at"] == iso(NOW)
    assert client.get("/v1/buildings/hq/rooms/r1").status_code == 404
    for table in (*ROLLUPS, "capture"):
        assert (
            count(
                db,
                f"SELECT count(*) FROM {table} x JOIN room r ON r.id = x.room_id"
                " WHERE r.key = 'r1'",
            )
            == 0
        )
    assert count(db, "SELECT count(*) FROM sensor WHERE default_room_id IS NOT NULL") == 1
    assert_rollups_match_raw(db)  # r2 untouched
    # A retry after a lost answer: the room is gone, 404 (and no second audit row).
    error(
        client.delete("/v1/buildings/hq/rooms/r1", params={"captures": "delete"}), 404, "not_found"
    )
    assert count(db, "SELECT count(*) FROM deletion_audit") == 1
    # A room without captures needs no flag.
    assert client.put("/v1/buildings/hq/rooms/empty", json={}).status_code == 201
    assert client.delete("/v1/buildings/hq/rooms/empty").json()["captures_deleted"] == 0


def test_room_with_a_registered_sensor_or_an_alert_rule_is_refused(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    assert (
        client.post(
            "/v1/sensors",
            json={
                "key": "zb-1",
                "sensor_type": "temperature",
                "building": "hq",
                "room": "r1",
            },
        ).status_code
        == 201
    )
    message = error(client.delete("/v1/buildings/hq/rooms/r1"), 409, "has_sensors")
    assert "'zb-1'" in message
    error(client.delete("/v1/buildings/hq", params={"captures": "delete"}), 409, "has_sensors")
    assert client.delete("/v1/sensors/zb-1").status_code == 200
    assert client.put("/v1/alert-receivers/ops", json={"url": "http://127.0.0.1:9/h"}).is_success
    rule = {"building": "hq", "room": "r1", "kind": "above", "threshold": 25, "receivers": ["ops"]}
    assert client.put("/v1/alert-rules/hot", json=rule).status_code == 201
    assert "'hot'" in error(client.delete("/v1/buildings/hq/rooms/r1"), 409, "has_alert_rules")
    error(client.delete("/v1/buildings/hq"), 409, "has_alert_rules")
    assert client.delete("/v1/alert-rules/hot").is_success
    # A rule on the whole building keeps the building, not its rooms: a room goes with its
    # alerts (and their transitions).
    rule = {"building": "hq", "kind": "above", "threshold": 25, "receivers": ["ops"]}
    assert client.put("/v1/alert-rules/warm", json=rule).status_code == 201
    db.execute(
        "WITH a AS (INSERT INTO alert (rule_id, room_id, state, started_at)"
        " SELECT ar.id, r.id, 'firing', %s FROM alert_rule ar, room r WHERE r.key = 'r1'"
        " RETURNING id)"
        " INSERT INTO alert_transition (alert_id, to_state, at, reason) SELECT id, 'firing', %s,"
        " 'test' FROM a",
        (NOW, NOW),
    )
    assert client.delete("/v1/buildings/hq/rooms/r1").status_code == 200
    assert count(db, "SELECT count(*) FROM alert") == 0
    assert count(db, "SELECT count(*) FROM alert_transition") == 0
    error(client.delete("/v1/buildings/hq"), 409, "has_alert_rules")
    kinds = [e["kind"] for e in client.get("/v1/deletions").json()["items"]]
    assert kinds == ["room", "sensor"]  # newest first; the sensor's delete is audited too


def test_building_delete_takes_its_rooms_and_captures(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    n = post_series(client, "a", DAY, 90) + post_series(client, "b", DAY, 30)
    post_series(client, "a", DAY, 30, building="other")
    error(client.delete("/v1/buildings/hq"), 409, "has_captures")
    r = client.delete("/v1/buildings/hq", params={"captures": "delete"})
    assert r.status_code == 200, r.text
    assert (r.json()["kind"], r.json()["captures_deleted"]) == ("building", n)
    assert client.get("/v1/buildings/hq").status_code == 404
    assert count(db, "SELECT count(*) FROM room") == 1
    assert count(db, "SELECT count(*) FROM capture") == 30
    assert_rollups_match_raw(db)
    error(client.delete("/v1/buildings/hq", params={"captures": "delete"}), 404, "not_found")


def test_sensor_type_is_refused_while_used(client: TestClient, db: psycopg.Connection[Any]) -> None:
    humidity = {"unit": "percent", "min_value": 0, "max_value": 100}
    assert client.put("/v1/sensor-types/humidity", json=humidity).status_code == 201
    body = [
        capture(
            40.0 + m,
            room="r1",
            ts=DAY + timedelta(minutes=m),
            unit="percent",
            sensor_type="humidity",
        )
        for m in range(10)
    ]
    assert client.post("/v1/captures", json=body).status_code == 201
    message = error(client.delete("/v1/sensor-types/humidity"), 409, "sensor_type_in_use")
    assert "10 captures" in message
    r = client.delete(
        "/v1/buildings/hq/rooms/r1/captures",
        params={"from": iso(DAY), "to": iso(DAY + timedelta(days=1)), "sensor": "hq/r1/humidity"},
    )
    assert r.json()["captures_deleted"] == 10
    # The room's default humidity sensor is left without captures: it goes with the type.
    r = client.delete("/v1/sensor-types/humidity")
    assert r.status_code == 200, r.text
    assert (r.json()["kind"], r.json()["sensor_type"]) == ("sensor_type", "humidity")
    assert client.get("/v1/sensor-types/humidity").status_code == 404
    error(client.delete("/v1/sensor-types/humidity"), 404, "not_found")
    assert client.post(
        "/v1/sensors",
        json={"key": "t1", "sensor_type": "temperature", "building": "hq", "room": "r1"},
    ).is_success
    assert "'t1'" in error(client.delete("/v1/sensor-types/temperature"), 409, "sensor_type_in_use")


def test_capture_range_delete_keeps_every_rollup_level_exact_and_is_idempotent(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    assert client.post(
        "/v1/sensors",
        json={"key": "zb-7", "sensor_type": "temperature", "building": "hq", "room": "r1"},
    ).is_success
    start = DAY - timedelta(hours=2)  # across a day edge
    post_series(client, "r1", start, 30 * 60, step=1)
    post_series(client, "r1", start, 30 * 60, sensor="zb-7", step=3)
    post_series(client, "r2", start, 600, step=7)
    assert_rollups_match_raw(db)
    before = count(db, "SELECT count(*) FROM capture")
    # Odd edges: inside buckets and pieces, across the midnight piece edge.
    lo, hi = DAY - timedelta(minutes=37, seconds=30), DAY + timedelta(hours=5, minutes=7)
    params = {"from": iso(lo), "to": iso(hi)}
    want = count(
        db,
        "SELECT count(*) FROM capture c JOIN room r ON r.id = c.room_id WHERE r.key = 'r1'"
        " AND c.ts >= %s AND c.ts < %s",
        lo,
        hi,
    )
    r = client.delete("/v1/buildings/hq/rooms/r1/captures", params=params)
    assert r.status_code == 200, r.text
    assert r.json()["captures_deleted"] == want > 0
    assert (r.json()["from"], r.json()["to"]) == (iso(lo), iso(hi))
    assert count(db, "SELECT count(*) FROM capture") == before - want
    assert_rollups_match_raw(db)
    # One sensor of the room, over a later range.
    one = {
        "from": iso(DAY + timedelta(hours=9)),
        "to": iso(DAY + timedelta(hours=20)),
        "sensor": "zb-7",
    }
    r = client.delete("/v1/buildings/hq/rooms/r1/captures", params=one)
    assert r.json()["captures_deleted"] == 11 * 20
    assert r.json()["sensor"] == "zb-7"
    assert_rollups_match_raw(db)
    # Retried: success with 0 rows, nothing else changes, a second audit row says so.
    rows = count(db, "SELECT count(*) FROM capture")
    again = client.delete("/v1/buildings/hq/rooms/r1/captures", params=params)
    assert (again.status_code, again.json()["captures_deleted"]) == (200, 0)
    assert count(db, "SELECT count(*) FROM capture") == rows
    assert_rollups_match_raw(db)
    # Bad requests: empty range, unknown room or sensor, missing bounds.
    bad = {"from": iso(hi), "to": iso(lo)}
    error(client.delete("/v1/buildings/hq/rooms/r1/captures", params=bad), 422, "invalid_input")
    error(client.delete("/v1/buildings/hq/rooms/nope/captures", params=params), 404, "not_found")
    missing = {**params, "sensor": "nope"}
    error(client.delete("/v1/buildings/hq/rooms/r1/captures", params=missing), 404, "not_found")
    error(client.delete("/v1/buildings/hq/rooms/r1/captures"), 422, "validation_error")


def test_audit_lists_filters_and_pages(client: TestClient, db: psycopg.Connection[Any]) -> None:
    post_series(client, "r1", DAY, 60)
    post_series(client, "r2", DAY, 60)
    for m in range(0, 60, 20):
        params = {
            "from": iso(DAY + timedelta(minutes=m)),
            "to": iso(DAY + timedelta(minutes=m + 20)),
        }
        client.delete("/v1/buildings/hq/rooms/r1/captures", params=params)
    client.delete("/v1/buildings/hq/rooms/r2", params={"captures": "delete"})
    page = client.get("/v1/deletions", params={"limit": 2}).json()
    assert [(e["kind"], e["room"], e["captures_deleted"]) for e in page["items"]] == [
        ("room", "r2", 60),
        ("captures", "r1", 20),
    ]
    rest = client.get("/v1/deletions", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [e["captures_deleted"] for e in rest["items"]] == [20, 20]
    last = client.get("/v1/deletions", params={"limit": 2, "cursor": rest["next_cursor"]}).json()
    assert last == {"items": [], "next_cursor": None}
    kinds = client.get("/v1/deletions", params={"kind": "captures", "room": "r1"}).json()
    assert len(kinds["items"]) == 3
    later = client.get("/v1/deletions", params={"since": iso(NOW + timedelta(seconds=1))})
    assert later.json()["items"] == []
    assert client.get("/v1/deletions", params={"building": "elsewhere"}).json()["items"] == []
    error(client.get("/v1/deletions", params={"cursor": "!!"}), 422, "validation_error")
    error(client.get("/v1/deletions", params={"cursor": "eHl6"}), 422, "invalid_input")
    # The table itself: ids and keys as they were, the range, the count; who is NULL (no auth).
    row = db.execute(
        "SELECT kind, building_key, room_key, room_id IS NOT NULL, range_from, range_to,"
        " captures_deleted, token_public_id FROM deletion_audit ORDER BY id LIMIT 1"
    ).fetchone()
    assert row == ("captures", "hq", "r1", True, DAY, DAY + timedelta(minutes=20), 20, None)


def test_renamed_keys_are_refused_afterwards(
    client: TestClient, db: psycopg.Connection[Any], database_url: str
) -> None:
    post_series(client, "r1", DAY, 30)
    r = client.patch("/v1/buildings/hq", json={"key": "main"})
    assert r.status_code == 200, r.text
    assert r.json()["key"] == "main"
    assert "renamed to 'main'" in error(client.get("/v1/buildings/hq"), 404, "not_found")
    assert "renamed to 'main'" in error(client.get("/v1/buildings/hq/rooms/r1"), 404, "not_found")
    # Captures keep their room; the old key is never auto-registered again.
    assert count(db, "SELECT count(*) FROM capture") == 30
    late = client.post("/v1/captures", json=capture(21.0, building="hq", room="r1", ts=iso(DAY)))
    assert late.status_code == 422
    detail = late.json()["error"]["details"][0]
    assert (detail["code"], detail["field"]) == ("renamed_key", "building")
    assert "renamed to 'main'" in detail["message"]
    assert client.get("/v1/buildings/hq").status_code == 404
    r = client.patch("/v1/buildings/main/rooms/r1", json={"key": "lab"})
    assert r.status_code == 200, r.text
    late = client.post(
        "/v1/captures", json=[capture(21.0, building="main", room="r1", ts=iso(DAY))]
    )
    assert late.json()["error"]["details"][0]["code"] == "renamed_key"
    assert "renamed to 'lab'" in error(client.get("/v1/buildings/main/rooms/r1"), 404, "not_found")
    ok = client.post("/v1/captures", json=capture(21.0, building="main", room="lab", ts=iso(NOW)))
    assert ok.status_code == 201
    # Taken keys, a no-op rename, a PUT that takes an old key back on purpose.
    client.put("/v1/buildings/main/rooms/other", json={})
    error(client.patch("/v1/buildings/main/rooms/lab", json={"key": "other"}), 409, "key_exists")
    assert client.patch("/v1/buildings/main", json={"key": "main"}).status_code == 200
    error(client.patch("/v1/buildings/main", json={"key": "a/b"}), 422, "validation_error")
    assert client.put("/v1/buildings/hq", json={}).status_code == 201
    assert client.post("/v1/captures", json=capture(21.0, building="hq", room="r1")).is_success
    assert count(db, "SELECT count(*) FROM renamed_room") == 1
    # The import path (valid rows stored, others set aside) refuses renamed keys the same way.
    items = [
        CaptureIn.model_validate(
            capture(20.0, building="main", room=room, ts=iso(NOW - timedelta(minutes=1)))
        )
        for room in ("r1", "lab")
    ]

    async def import_chunk() -> tuple[Any, Any]:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as conn:
                return await ingest.ingest_valid(conn, items, policy=_POLICY, now=NOW)
        finally:
            await engine.dispose()

    counts, rejected = asyncio.run(import_chunk())
    assert counts.inserted == 1
    assert [(p.index, p.code) for p in rejected] == [(0, "renamed_key")]


def test_deletes_need_admin_and_the_audit_names_the_token(
    client_factory: ClientFactory, database_url: str, db: psycopg.Connection[Any]
) -> None:
    client = client_factory(
        auth_required=True, token_hash_key=TOKEN_HASH_KEY, rate_limit_per_second=0
    )
    tokens = {s: issue_token(database_url, f"only-{s}", s) for s in ("ingest", "read", "admin")}
    headers = {s: {"Authorization": f"Bearer {t}"} for s, t in tokens.items()}
    assert client.post("/v1/captures", json=capture(21.0), headers=headers["ingest"]).is_success
    params = {"from": iso(DAY), "to": iso(NOW)}
    calls = [
        ("DELETE", "/v1/buildings/hq/rooms/3.14/captures", params),
        ("GET", "/v1/deletions", None),
        ("DELETE", "/v1/buildings/hq/rooms/3.14", {"captures": "delete"}),
    ]
    for method, path, query in calls:
        for scope in ("ingest", "read"):
            r = client.request(method, path, params=query, headers=headers[scope])
            assert r.status_code == 403, (method, path, scope)
        r = client.request(method, path, params=query, headers=headers["admin"])
        assert r.status_code == 200, (method, path, r.text)
    items = client.get("/v1/deletions", headers=headers["admin"]).json()["items"]
    assert [(e["kind"], e["by"], e["captures_deleted"]) for e in items] == [
        ("room", "only-admin", 0),
        ("captures", "only-admin", 1),
    ]
    assert items[0]["token"] == tokens["admin"].split("_")[1]


def test_ingest_that_resolved_a_room_deleted_meanwhile_gets_409_not_500(
    client: TestClient, db: psycopg.Connection[Any], conninfo: str
) -> None:
    """The room is resolved, then ingest waits for the room's lock, which a delete holds; when
    the delete commits, the insert's foreign key fails: 409 deleted_meanwhile, retryable."""
    post_series(client, "r1", DAY, 1)
    room_id = count(db, "SELECT id FROM room WHERE key = 'r1'")
    with psycopg.connect(conninfo) as deleter:
        deleter.execute("SELECT pg_advisory_xact_lock(%s, %s)", (ROOM_LOCK_CLASS, room_id))
        for table in ("capture", *ROLLUPS):
            deleter.execute(f"DELETE FROM {table} WHERE room_id = %s", (room_id,))
        deleter.execute("DELETE FROM room_sensor WHERE room_id = %s", (room_id,))
        deleter.execute("DELETE FROM sensor_assignment WHERE room_id = %s", (room_id,))
        deleter.execute("DELETE FROM sensor WHERE default_room_id = %s", (room_id,))
        deleter.execute("DELETE FROM room WHERE id = %s", (room_id,))
        with ThreadPoolExecutor(max_workers=1) as pool:
            body = [capture(21.0, room="r1", ts=iso(DAY + timedelta(minutes=5)))]
            answer = pool.submit(client.post, "/v1/captures", json=body)
            time.sleep(1.0)  # the request waits for the room's lock (or the room's row)
            assert not answer.done()
            deleter.commit()
            r = answer.result(timeout=30)
    message = error(r, 409, "deleted_meanwhile")
    assert "retry" in message
    retried = client.post("/v1/captures", json=body)  # auto-registers the room anew
    assert retried.status_code == 201, retried.text


def test_a_long_default_sensor_key_is_audited_whole(client: TestClient) -> None:
    building, room = "b" * 64, "r" * 64
    post_series(client, room, DAY, 10, building=building)
    key = f"{building}/{room}/temperature"
    r = client.delete(
        f"/v1/buildings/{building}/rooms/{room}/captures",
        params={"from": iso(DAY), "to": iso(NOW), "sensor": key},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["sensor"], r.json()["captures_deleted"]) == (key, 10)
    listed = client.get("/v1/deletions", params={"sensor": key}).json()["items"]
    assert [e["id"] for e in listed] == [r.json()["id"]]
