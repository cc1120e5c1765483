"""POST /v1/captures: validation, units, idempotency, all-or-nothing batches."""

from __future__ import annotations

import math
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.conftest import NOW, ClientFactory
from tests.factories import capture


def stored(db: psycopg.Connection[Any]) -> list[tuple[str, str, str, float]]:
    return [
        (b, r, ts.isoformat(), v)
        for b, r, ts, v in db.execute(
            "SELECT b.key, r.key, c.ts, c.value FROM capture c JOIN room r ON r.id = c.room_id"
            " JOIN building b ON b.id = r.building_id ORDER BY 1, 2, 3"
        )
    ]


def test_single_capture_is_stored_in_kelvin(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    r = client.post("/v1/captures", json=capture(21.5, ts="2026-11-22T10:00:00+01:00"))
    assert r.status_code == 201
    assert r.json() == {"inserted": 1, "duplicates": 0, "updated": 0}
    [(b, room, ts, value)] = stored(db)
    assert (b, room, ts) == ("hq", "3.14", "2026-11-22T09:00:00+00:00")
    assert math.isclose(value, 294.65)


@pytest.mark.parametrize(
    ("value", "unit", "kelvin"),
    [
        (21.5, "°C", 294.65),
        (21.5, "C", 294.65),
        (294.65, "K", 294.65),
        (294.65, "kelvin", 294.65),
        (70.7, "fahrenheit", 294.65),
        (70.7, "°F", 294.65),
        (70.7, "F", 294.65),
        (294.65, None, 294.65),
    ],
)
def test_units(
    client: TestClient, db: psycopg.Connection[Any], value: float, unit: str | None, kelvin: float
) -> None:
    r = client.post("/v1/captures", json=capture(value, unit=unit))
    assert r.status_code == 201, r.text
    assert math.isclose(stored(db)[0][3], kelvin)


def test_epoch_seconds_timestamp(client: TestClient, db: psycopg.Connection[Any]) -> None:
    r = client.post("/v1/captures", json=capture(20, ts=1795341600))
    assert r.status_code == 201, r.text
    assert stored(db)[0][2] == "2026-11-22T10:00:00+00:00"


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    err: dict[str, Any] = body["error"]
    return err


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        (capture(21.5, ts="2026-11-22T10:00:00"), "ts", "no UTC offset"),
        (capture(21.5, ts="not a time"), "ts", "RFC 3339"),
        (capture(21.5, ts="2026-11-22T12:06:00Z"), "ts", "in the future"),
        (capture(21.5, unit="kelvin"), "value", "plausible range"),
        (capture(-300, unit="celsius"), "value", "below absolute zero"),
        (capture(-1, unit="kelvin"), "value", "below absolute zero"),
        (capture(150, unit="celsius"), "value", "plausible range"),
        (capture(21.5, unit="percent"), "unit", "not valid for sensor type"),
        (capture(21.5, unit="furlongs"), "unit", "not valid for sensor type"),
        (capture(21.5, sensor_type="humidity"), "sensor_type", "unknown sensor type"),
        (capture(21.5, building="-bad"), "building", "pattern"),
        (capture(21.5, room="a" * 65), "room", "at most 64"),
        (capture(21.5, room="room one"), "room", "pattern"),
        (capture(21.5, building=""), "building", "at least 1"),
        (capture("21.5"), "value", "valid number"),
        (capture(True), "value", "valid number"),
        (capture(None), "value", "valid number"),
        (capture(21.5, extra_field=1), "extra_field", "Extra inputs"),
        ({"building": "hq", "room": "1", "ts": "2026-11-22T10:00:00Z"}, "value", "Field required"),
    ],
)
def test_rejections_are_precise(
    client: TestClient,
    db: psycopg.Connection[Any],
    payload: dict[str, Any],
    field: str,
    fragment: str,
) -> None:
    r = client.post("/v1/captures", json=payload)
    assert r.status_code == 422, r.text
    err = error_of(r)
    assert err["code"] in {"invalid_input", "validation_error"}
    [detail] = err["details"]
    assert detail["field"] == field
    assert detail["index"] is None
    assert fragment in detail["message"]
    assert stored(db) == []


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_values_rejected(client: TestClient, literal: bytes) -> None:
    body = (
        b'{"building": "hq", "room": "1", "ts": "2026-11-22T10:00:00Z", "value": ' + literal + b"}"
    )
    r = client.post("/v1/captures", content=body, headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), r.text
    err = error_of(r)
    assert err["details"]


def test_malformed_json_is_400(client: TestClient) -> None:
    r = client.post(
        "/v1/captures", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert error_of(r)["code"] == "malformed_request"


def test_empty_body_is_400(client: TestClient) -> None:
    r = client.post("/v1/captures", content=b"", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert error_of(r)["code"] == "malformed_request"


@pytest.mark.parametrize("body", [[], [[]], ["x"], 5, "text", {}, [None]])
def test_wrong_shapes(client: TestClient, body: Any) -> None:
    r = client.post("/v1/captures", json=body)
    assert client.post("/v1/captures", content=b"null").status_code == 422
    assert r.status_code == 422, r.text
    assert error_of(r)["details"]


def test_batch_is_all_or_nothing_and_lists_every_bad_item(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    batch = [
        capture(21.0, ts="2026-11-22T10:00:00Z"),
        capture(21.0, ts="2026-11-22T10:01:00"),
        capture(21.0, ts="2026-11-22T10:02:00Z", room="ok"),
        capture(21.0, ts="2026-11-22T10:03:00Z", unit="kelvin"),
        capture(21.0, ts="2026-11-22T10:04:00Z", sensor_type="nope"),
    ]
    r = client.post("/v1/captures", json=batch)
    assert r.status_code == 422
    err = error_of(r)
    assert [(d["index"], d["field"]) for d in err["details"]] == [
        (1, "ts"),
        (3, "value"),
        (4, "sensor_type"),
    ]
    assert "nothing was stored" in err["message"]
    assert stored(db) == []
    assert db.execute("SELECT count(*) FROM building").fetchone() == (0,)


def test_batch_limit(client_factory: ClientFactory, db: psycopg.Connection[Any]) -> None:
    client = client_factory(max_batch_size=3)
    batch = [capture(20 + i, ts=f"2026-11-22T10:0{i}:00Z") for i in range(4)]
    r = client.post("/v1/captures", json=batch)
    assert r.status_code == 413
    assert error_of(r)["code"] == "payload_too_large"
    assert client.post("/v1/captures", json=batch[:3]).status_code == 201
    assert len(stored(db)) == 3


def test_idempotent_resend_and_last_write_wins(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    batch = [capture(20.0, ts=f"2026-11-22T10:0{i}:00Z") for i in range(5)]
    assert client.post("/v1/captures", json=batch).json() == {
        "inserted": 5,
        "duplicates": 0,
        "updated": 0,
    }
    # the same batch again (a retry after a timeout): nothing new
    assert client.post("/v1/captures", json=batch).json() == {
        "inserted": 0,
        "duplicates": 5,
        "updated": 0,
    }
    # same instant written with another offset is the same key
    same = capture(20.0, ts="2026-11-22T11:00:00+01:00")
    assert client.post("/v1/captures", json=same).json()["duplicates"] == 1
    changed = [*batch[:2], capture(22.0, ts="2026-11-22T10:02:00Z"), capture(20.0, room="new")]
    assert client.post("/v1/captures", json=changed).json() == {
        "inserted": 1,
        "duplicates": 2,
        "updated": 1,
    }
    rows = stored(db)
    assert len(rows) == 6
    assert [round(v - 273.15, 9) for *_, v in rows if _[1] == "3.14"] == [20, 20, 22, 20, 20]


def test_repeated_key_inside_one_batch(client: TestClient, db: psycopg.Connection[Any]) -> None:
    ts = "2026-11-22T10:00:00Z"
    batch = [capture(20.0, ts=ts), capture(20.0, ts=ts), capture(23.0, ts=ts)]
    assert client.post("/v1/captures", json=batch).json() == {
        "inserted": 1,
        "duplicates": 1,
        "updated": 1,
    }
    assert math.isclose(stored(db)[0][3], 296.15)
    assert client.post(
        "/v1/captures", json=[capture(23.0, ts=ts), capture(19.0, ts=ts)]
    ).json() == {
        "inserted": 0,
        "duplicates": 1,
        "updated": 1,
    }
    assert math.isclose(stored(db)[0][3], 292.15)


def test_auto_register_creates_buildings_and_rooms(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    client.post(
        "/v1/captures",
        json=[capture(20, building="b1", room="r1"), capture(20, building="b2", room="r1")],
    )
    assert client.get("/v1/buildings/b1/rooms/r1").json()["name"] == "r1"
    assert client.get("/v1/buildings").json()["items"][1]["key"] == "b2"


def _where(details: list[dict[str, Any]]) -> list[tuple[int | None, str, str]]:
    return [(d["index"], d["field"], d["code"]) for d in details]


@pytest.mark.parametrize("micro_batch", [1000, 0], ids=["batcher", "one-transaction-each"])
def test_auto_register_off_names_the_wrong_field(
    client_factory: ClientFactory, db: psycopg.Connection[Any], micro_batch: int
) -> None:
    client = client_factory(auto_register=False, ingest_micro_batch=micro_batch)
    assert client.put("/v1/buildings/hq", json={}).status_code == 201
    assert client.put("/v1/buildings/hq/rooms/known", json={}).status_code == 201
    sensor_capture = {"sensor": "zb-ghost", "value": 20, "unit": "celsius", "ts": NOW.isoformat()}
    r = client.post(
        "/v1/captures",
        json=[
            capture(20, room="known"),
            capture(20, room="ghost"),
            capture(20, building="nowhere"),
            sensor_capture,
            capture(20, building="nowhere", room="known"),
        ],
    )
    assert r.status_code == 422
    details = error_of(r)["details"]
    assert _where(details) == [
        (1, "room", "unknown_room"),
        (2, "building", "unknown_building"),
        (3, "sensor", "unknown_sensor"),
        (4, "building", "unknown_building"),
    ]
    assert "'ghost'" in details[0]["message"]
    assert "'nowhere'" in details[1]["message"]
    # A single capture (the batcher's path when micro-batching is on): no index.
    for body, expected in (
        (capture(20, room="ghost"), (None, "room", "unknown_room")),
        (capture(20, building="nowhere"), (None, "building", "unknown_building")),
        (sensor_capture, (None, "sensor", "unknown_sensor")),
    ):
        single = client.post("/v1/captures", json=body)
        assert single.status_code == 422
        assert _where(error_of(single)["details"]) == [expected]
    assert stored(db) == []
    assert client.post("/v1/captures", json=capture(20, room="known")).status_code == 201


def test_future_skew_is_configurable(client_factory: ClientFactory) -> None:
    client = client_factory(max_future_skew_seconds=3600)
    assert (
        client.post("/v1/captures", json=capture(20, ts="2026-11-22T12:59:00Z")).status_code == 201
    )
    assert (
        client.post("/v1/captures", json=capture(20, ts="2026-11-22T13:01:00Z")).status_code == 422
    )


def test_other_sensor_type_requires_its_canonical_unit(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    r = client.put(
        "/v1/sensor-types/humidity",
        json={
            "unit": "percent",
            "min_value": 0,
            "max_value": 100,
            "description": "Relative humidity",
        },
    )
    assert r.status_code == 201, r.text
    ok = capture(45.0, unit="percent", sensor_type="humidity")
    assert client.post("/v1/captures", json=ok).status_code == 201
    assert (
        client.post("/v1/captures", json=capture(45.0, unit=None, sensor_type="humidity")).json()[
            "duplicates"
        ]
        == 1
    )
    bad = client.post("/v1/captures", json=capture(45.0, unit="celsius", sensor_type="humidity"))
    assert bad.status_code == 422
    assert "use percent" in error_of(bad)["details"][0]["message"]
    assert (
        client.post(
            "/v1/captures", json=capture(145.0, unit="percent", sensor_type="humidity")
        ).status_code
        == 422
    )
