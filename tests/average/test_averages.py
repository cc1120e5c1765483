"""Averages endpoints: golden examples, window edges, units, parameters and errors."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.factories import capture

AVG = "/v1/buildings/hq/rooms/3.14/average"


def post(client: TestClient, *items: dict[str, Any]) -> None:
    r = client.post("/v1/captures", json=list(items))
    assert r.status_code == 201, r.text


def test_readme_example_time_weighted_mean(client: TestClient) -> None:
    # 20 °C held from 11:40 (before the window), 22 °C from 11:50, 23 °C from 11:55 to 12:00.
    post(
        client,
        capture(20.0, ts="2026-11-22T11:40:00Z"),
        capture(22.0, ts="2026-11-22T11:50:00Z"),
        capture(23.0, ts="2026-11-22T11:55:00Z"),
    )
    body = client.get(AVG, params={"unit": "celsius"}).json()
    assert body["window_start"] == "2026-11-22T11:45:00Z"
    assert body["window_end"] == "2026-11-22T12:00:00Z"
    assert body["count"] == 2
    assert body["mean"] == pytest.approx(22.5, abs=1e-9)
    assert body["min"] == pytest.approx(22.0, abs=1e-9)
    assert body["max"] == pytest.approx(23.0, abs=1e-9)
    # (5 min x 20 + 5 min x 22 + 5 min x 23) / 15 min
    assert body["time_weighted_mean"] == pytest.approx(65 / 3, abs=1e-9)
    assert body["unit"] == "celsius"
    assert body["sensor_type"] == "temperature"


def test_without_earlier_capture_the_gap_is_left_out(client: TestClient) -> None:
    post(client, capture(22.0, ts="2026-11-22T11:50:00Z"), capture(25.0, ts="2026-11-22T11:58:00Z"))
    body = client.get(AVG, params={"unit": "C"}).json()
    # 22 for 8 min, 25 for 2 min: the 5 minutes before 11:50 do not count
    assert body["time_weighted_mean"] == pytest.approx((8 * 22 + 2 * 25) / 10, abs=1e-9)


def test_window_is_start_exclusive_end_inclusive(client: TestClient) -> None:
    post(
        client,
        capture(10.0, ts="2026-11-22T11:45:00Z"),  # exactly at the start: outside
        capture(30.0, ts="2026-11-22T12:00:00Z"),  # exactly at the end: inside
    )
    body = client.get(AVG, params={"unit": "celsius"}).json()
    assert body["count"] == 1
    assert body["mean"] == pytest.approx(30.0)
    # the capture at the start is the value held before the first capture in the window
    assert body["time_weighted_mean"] == pytest.approx(10.0)


def test_empty_window_is_200_with_nulls(client: TestClient) -> None:
    post(client, capture(20.0, ts="2026-11-22T10:00:00Z"))
    body = client.get(AVG).json()
    assert body["count"] == 0
    assert body["mean"] is None
    assert body["min"] is None
    assert body["max"] is None
    assert body["time_weighted_mean"] is None
    assert body["unit"] == "kelvin"


def test_at_window_and_units(client: TestClient) -> None:
    post(
        client,
        capture(20.0, ts="2026-11-22T10:00:00Z"),
        capture(21.0, ts="2026-11-22T10:30:00Z"),
        capture(22.0, ts="2026-11-22T11:00:00Z"),
    )
    one_hour = client.get(AVG, params={"at": "2026-11-22T11:00:00Z", "window": "1h"}).json()
    assert one_hour["count"] == 2
    assert one_hour["mean"] == pytest.approx(294.65, abs=1e-9)
    f = client.get(AVG, params={"at": "2026-11-22T11:00:00Z", "window": "1h", "unit": "°F"}).json()
    assert f["mean"] == pytest.approx(70.7, abs=1e-9)
    assert f["unit"] == "fahrenheit"
    epoch = client.get(AVG, params={"at": "1795345200", "window": "60m", "unit": "celsius"}).json()
    assert epoch["window_end"] == "2026-11-22T11:00:00Z"
    assert epoch["mean"] == pytest.approx(21.5, abs=1e-9)


def test_unknown_building_or_room_is_404(client: TestClient) -> None:
    post(client, capture(20.0))
    for path in ["/v1/buildings/nope/rooms/3.14/average", "/v1/buildings/hq/rooms/nope/average"]:
        r = client.get(path)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
    assert client.get("/v1/buildings/nope/averages").status_code == 404
    assert (
        client.get(
            "/v1/buildings/hq/rooms/nope/averages",
            params={"from": "1795340000", "to": "1795345200"},
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"window": "30s"}, "window"),
        ({"window": "25h"}, "window"),
        ({"window": "15"}, "window"),
        ({"at": "2026-11-22T11:00:00"}, "at"),
        ({"at": "soon"}, "at"),
        ({"unit": "percent"}, "unit"),
        ({"sensor_type": "humidity"}, "sensor_type"),
        ({"sensor_type": "bad key!"}, "sensor_type"),
    ],
)
def test_bad_parameters_are_422(client: TestClient, params: dict[str, str], field: str) -> None:
    post(client, capture(20.0))
    r = client.get(AVG, params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["field"] == field


def test_series_shape_and_empty_points(client: TestClient) -> None:
    post(
        client,
        capture(20.0, ts="2026-11-22T10:05:00Z"),
        capture(22.0, ts="2026-11-22T10:15:00Z"),
        capture(24.0, ts="2026-11-22T10:50:00Z"),
    )
    r = client.get(
        "/v1/buildings/hq/rooms/3.14/averages",
        params={"from": "2026-11-22T10:00:00Z", "to": "2026-11-22T11:00:00Z", "unit": "celsius"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["step"] == "15m"
    assert body["window"] == "15m"
    assert [p["t"] for p in body["points"]] == [
        "2026-11-22T10:15:00Z",
        "2026-11-22T10:30:00Z",
        "2026-11-22T10:45:00Z",
        "2026-11-22T11:00:00Z",
    ]
    assert [p["count"] for p in body["points"]] == [2, 0, 0, 1]
    assert body["points"][0]["mean"] == pytest.approx(21.0, abs=1e-9)
    assert body["points"][1] == {
        "t": "2026-11-22T10:30:00Z",
        "count": 0,
        "mean": None,
        "min": None,
        "max": None,
        "sensors": 0,
    }


def test_series_overlapping_windows_and_limits(client: TestClient) -> None:
    post(client, capture(20.0, ts="2026-11-22T10:05:00Z"), capture(22.0, ts="2026-11-22T10:20:00Z"))
    body = client.get(
        "/v1/buildings/hq/rooms/3.14/averages",
        params={
            "from": "2026-11-22T10:00:00Z",
            "to": "2026-11-22T10:30:00Z",
            "step": "5m",
            "window": "1h",
        },
    ).json()
    assert [p["count"] for p in body["points"]] == [1, 1, 1, 2, 2, 2]
    too_many = client.get(
        "/v1/buildings/hq/rooms/3.14/averages",
        params={"from": "2026-01-01T00:00:00Z", "to": "2026-11-22T00:00:00Z", "step": "1m"},
    )
    assert too_many.status_code == 422
    assert too_many.json()["error"]["details"][0]["field"] == "step"
    reversed_range = client.get(
        "/v1/buildings/hq/rooms/3.14/averages",
        params={"from": "2026-11-22T10:00:00Z", "to": "2026-11-22T09:00:00Z"},
    )
    assert reversed_range.status_code == 422
    missing = client.get("/v1/buildings/hq/rooms/3.14/averages")
    assert missing.status_code == 422
    assert {d["field"] for d in missing.json()["error"]["details"]} == {"from", "to"}


def test_building_overview(client: TestClient, db: psycopg.Connection[Any]) -> None:
    post(
        client,
        capture(20.0, room="a", ts="2026-11-22T11:50:00Z"),
        capture(22.0, room="a", ts="2026-11-22T11:55:00Z"),
        capture(25.0, room="b", ts="2026-11-22T09:00:00Z"),  # silent room: outside the window
        capture(26.0, room="b", ts="2026-11-22T12:01:00Z"),  # after `at`: not its last_ts
        capture(19.0, building="other", room="a", ts="2026-11-22T11:55:00Z"),
    )
    assert client.put("/v1/buildings/hq/rooms/c", json={"name": "Empty"}).status_code == 201
    r = client.get("/v1/buildings/hq/averages", params={"unit": "celsius"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["window_start"] == "2026-11-22T11:45:00Z"
    rooms = {x["room"]: x for x in body["rooms"]}
    assert list(rooms) == ["a", "b", "c"]
    assert rooms["a"]["count"] == 2
    assert rooms["a"]["mean"] == pytest.approx(21.0, abs=1e-9)
    assert rooms["a"]["last_ts"] == "2026-11-22T11:55:00Z"
    assert rooms["b"] == {
        "room": "b",
        "count": 0,
        "mean": None,
        "min": None,
        "max": None,
        "last_ts": "2026-11-22T09:00:00Z",
        "sensors": 0,
    }
    assert rooms["c"]["last_ts"] is None
