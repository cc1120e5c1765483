"""Registry endpoints: buildings, rooms, sensor types, pagination."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from roomtemp.registry.service import BuildingRow, zone_for
from tests.conftest import ClientFactory
from tests.factories import capture


def test_building_create_rename_get(client: TestClient) -> None:
    r = client.put("/v1/buildings/hq", json={"name": "Headquarters"})
    assert r.status_code == 201
    assert r.json()["name"] == "Headquarters"
    r = client.put("/v1/buildings/hq", json={"name": "HQ"})
    assert r.status_code == 200
    body = client.get("/v1/buildings/hq").json()
    assert (body["key"], body["name"], body["room_count"]) == ("hq", "HQ", 0)
    assert client.put("/v1/buildings/annex", json={}).json()["name"] == "annex"
    assert client.get("/v1/buildings/missing").status_code == 404


def test_rooms(client: TestClient) -> None:
    assert client.put("/v1/buildings/hq/rooms/r1", json={}).status_code == 404
    client.put("/v1/buildings/hq", json={})
    assert client.put("/v1/buildings/hq/rooms/r1", json={"name": "Lab"}).status_code == 201
    assert client.put("/v1/buildings/hq/rooms/r1", json={"name": "Big lab"}).status_code == 200
    assert client.get("/v1/buildings/hq/rooms/r1").json() == {
        "building": "hq",
        "key": "r1",
        "name": "Big lab",
        "created_at": client.get("/v1/buildings/hq/rooms/r1").json()["created_at"],
    }
    assert client.get("/v1/buildings/hq").json()["room_count"] == 1
    assert client.get("/v1/buildings/hq/rooms/r2").status_code == 404
    assert client.get("/v1/buildings/nope/rooms").status_code == 404


def test_keyset_pagination(client: TestClient) -> None:
    keys = [f"b{i:02d}" for i in range(7)]
    client.post(
        "/v1/captures", json=[capture(20, building=k, room=f"r{i}") for i, k in enumerate(keys)]
    )
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/buildings", params=params).json()
        seen += [b["key"] for b in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == keys
    rooms = client.get("/v1/buildings/b03/rooms").json()
    assert [r["key"] for r in rooms["items"]] == ["r3"]
    assert rooms["next_cursor"] is None


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 1001}, {"cursor": "%%%"}, {"limit": "x"}]
)
def test_bad_pagination(client: TestClient, params: dict[str, Any]) -> None:
    r = client.get("/v1/buildings", params=params)
    assert r.status_code == 422
    assert r.json()["error"]["details"]


def test_sensor_types(client: TestClient, db: psycopg.Connection[Any]) -> None:
    temperature = client.get("/v1/sensor-types/temperature").json()
    assert temperature["unit"] == "kelvin"
    assert temperature["min_value"] == pytest.approx(213.15)
    assert temperature["max_value"] == pytest.approx(373.15)
    body = {"unit": "percent", "min_value": 0, "max_value": 100, "description": "RH"}
    assert client.put("/v1/sensor-types/humidity", json=body).status_code == 201
    assert (
        client.put("/v1/sensor-types/humidity", json={**body, "max_value": 101}).status_code == 200
    )
    keys = [t["key"] for t in client.get("/v1/sensor-types").json()["items"]]
    assert keys == ["humidity", "temperature"]
    assert client.get("/v1/sensor-types/co2").status_code == 404
    # a unit alias is stored canonically
    surface = {"unit": "°C", "min_value": -50, "max_value": 150}
    assert client.put("/v1/sensor-types/surface", json=surface).json()["unit"] == "celsius"
    ok = capture(70, unit="fahrenheit", sensor_type="surface")
    assert client.post("/v1/captures", json=ok).status_code == 201
    stored = db.execute("SELECT value FROM capture").fetchone()
    assert stored is not None
    assert stored[0] == pytest.approx(21.111111111, abs=1e-6)


def test_sensor_type_unit_is_fixed_once_it_has_captures(client: TestClient) -> None:
    body = {"unit": "percent", "min_value": 0, "max_value": 100}
    client.put("/v1/sensor-types/humidity", json=body)
    assert (
        client.put("/v1/sensor-types/humidity", json={**body, "unit": "ratio"}).status_code == 200
    )
    client.put("/v1/sensor-types/humidity", json=body)
    client.post("/v1/captures", json=capture(40, unit="percent", sensor_type="humidity"))
    r = client.put("/v1/sensor-types/humidity", json={**body, "unit": "ratio"})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "conflict"


@pytest.mark.parametrize(
    "body",
    [
        {"unit": "percent", "min_value": 10, "max_value": 5},
        {"unit": "kelvin", "min_value": -5, "max_value": 5},
        {"unit": "percent", "min_value": 0},
        {"unit": "", "min_value": 0, "max_value": 1},
        {"unit": "percent", "min_value": "0", "max_value": 1},
        {"unit": "percent", "min_value": 0, "max_value": 1, "colour": "red"},
    ],
)
def test_sensor_type_validation(client: TestClient, body: dict[str, Any]) -> None:
    r = client.put("/v1/sensor-types/x", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"]


def test_registry_bad_keys(client: TestClient) -> None:
    assert client.put("/v1/buildings/-x", json={}).status_code == 422
    assert client.put(f"/v1/buildings/{'a' * 65}", json={}).status_code == 422
    assert client.put("/v1/buildings/ok", json={"name": ""}).status_code == 422


def test_building_time_zone_set_read_and_reset(client: TestClient) -> None:
    r = client.put("/v1/buildings/zh", json={"name": "Zurich", "time_zone": "Europe/Zurich"})
    assert (r.status_code, r.json()["time_zone"]) == (201, "Europe/Zurich")
    assert client.get("/v1/buildings/zh").json()["time_zone"] == "Europe/Zurich"
    client.put("/v1/buildings/plain", json={})
    items = client.get("/v1/buildings").json()["items"]
    assert [(b["key"], b["time_zone"]) for b in items] == [
        ("plain", "UTC"),
        ("zh", "Europe/Zurich"),
    ]
    # Like the name, a PUT without the zone (or with null) puts the building back on the default.
    assert client.put("/v1/buildings/zh", json={"time_zone": None}).json()["time_zone"] == "UTC"
    client.put("/v1/buildings/zh", json={"time_zone": "Asia/Kathmandu"})
    assert client.put("/v1/buildings/zh", json={"name": "Z"}).json()["time_zone"] == "UTC"


def test_buildings_without_a_zone_follow_the_setting(client_factory: ClientFactory) -> None:
    client = client_factory(default_time_zone="America/New_York")
    assert client.put("/v1/buildings/ny", json={}).json()["time_zone"] == "America/New_York"
    client.put("/v1/buildings/in", json={"time_zone": "Asia/Kolkata"})
    zones = {b["key"]: b["time_zone"] for b in client.get("/v1/buildings").json()["items"]}
    assert zones == {"in": "Asia/Kolkata", "ny": "America/New_York"}


@pytest.mark.parametrize(
    "bad", ["Mars/Olympus", "CET-1CEST,M3.5.0,M10.5.0/3", "/etc/localtime", "+01:00", "", "x" * 300]
)
def test_building_time_zone_must_be_iana(client: TestClient, bad: str) -> None:
    r = client.put("/v1/buildings/hq", json={"time_zone": bad})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_input"
    assert [d["field"] for d in error["details"]] == ["time_zone"]
    assert client.get("/v1/buildings/hq").status_code == 404  # nothing was written


def test_zone_for_a_read_prefers_tz_then_the_building_then_the_default() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    zurich = BuildingRow(1, "zh", "Zurich", at, 0, "Europe/Zurich")
    plain = BuildingRow(2, "p", "p", at, 0, None)
    assert zone_for(zurich, None, "UTC") == ZoneInfo("Europe/Zurich")
    assert zone_for(zurich, "Asia/Kolkata", "UTC") == ZoneInfo("Asia/Kolkata")
    assert zone_for(plain, None, "America/New_York") == ZoneInfo("America/New_York")
