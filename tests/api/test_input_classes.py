"""Input-validation classes (issue 14): every input path answers a 4xx in the usual envelope,
never a 500, for timestamps outside datetime's range after their offset, forged cursors,
oversized CSV cells; bounds are inclusive in every unit; bare comfort bounds are °C."""

from __future__ import annotations

import base64
import math
from typing import Any

import orjson
import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.factories import capture

# Valid RFC 3339 whose conversion to UTC leaves datetime's years 1 … 9999 (OverflowError).
OVERFLOWING = [
    "0001-01-01T00:30:00+01:00",
    "9999-12-31T23:00:00-01:00",
    "0001-01-01 00:00:00+23:59",
    "9999-12-31t23:59:59.999999-00:01",
]
READ_PATHS = [
    "/v1/buildings/hq/rooms/3.14/average?at={t}",
    "/v1/buildings/hq/averages?at={t}",
    "/v1/buildings/hq/rooms/3.14/averages?from={t}&to=2026-11-22T12:00:00Z",
    "/v1/buildings/hq/rooms/3.14/averages?from=2026-11-22T11:00:00Z&to={t}",
    "/v1/buildings/hq/rooms/3.14/captures?from={t}",
    "/v1/buildings/hq/rooms/3.14/captures?to={t}",
    "/v1/buildings/hq/report?from={t}&to=2026-11-22T12:00:00Z",
    "/v1/buildings/hq/report?from=2026-11-22T11:00:00Z&to={t}",
]


def assert_envelope(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert set(body["error"]) == {"code", "message", "details"}
    return body


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    assert client.post("/v1/captures", json=capture(21.0)).status_code == 201
    return client


@pytest.mark.parametrize("ts", OVERFLOWING)
def test_overflowing_timestamp_is_422_on_every_ingest_path(seeded: TestClient, ts: str) -> None:
    bad = capture(20.0, ts=ts)
    single = assert_envelope(seeded.post("/v1/captures", json=bad), 422)
    assert single["error"]["details"][0]["field"] == "ts"
    batch = assert_envelope(seeded.post("/v1/captures", json=[capture(20.0), bad]), 422)
    assert [(d["index"], d["field"]) for d in batch["error"]["details"]] == [(1, "ts")]
    ndjson = b"\n".join(orjson.dumps(c) for c in (capture(20.0), bad))
    r = seeded.post(
        "/v1/captures", content=ndjson, headers={"content-type": "application/x-ndjson"}
    )
    assert assert_envelope(r, 422)["error"]["details"][0]["index"] == 1
    csv = f"building,room,value,unit,ts\nhq,3.14,20,celsius,{ts}\n"
    r = seeded.post("/v1/captures", content=csv, headers={"content-type": "text/csv"})
    assert assert_envelope(r, 422)["error"]["details"][0]["field"] == "ts"


@pytest.mark.parametrize("ts", [OVERFLOWING[0], OVERFLOWING[1], "1" + "0" * 40])
@pytest.mark.parametrize("path", READ_PATHS)
def test_overflowing_timestamp_is_422_in_every_time_parameter(
    seeded: TestClient, path: str, ts: str
) -> None:
    r = seeded.get(path.format(t=ts.replace("+", "%2B")))
    assert assert_envelope(r, 422)["error"]["details"][0]["field"] in ("at", "from", "to")


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "inner",
    ["9" * 30, "-" + "9" * 30, "-1", str(2**63), "253402300800000000", "١٢٣", "1_000", " 5"],
)
def test_forged_export_cursor_is_422(seeded: TestClient, inner: str) -> None:
    r = seeded.get(f"/v1/buildings/hq/rooms/3.14/captures?cursor={_cursor(inner)}")
    assert assert_envelope(r, 422)["error"]["details"][0]["field"] == "cursor"


@pytest.mark.parametrize("inner", ["bad key", "\x00", "x" * 100, "../etc", "-x"])
@pytest.mark.parametrize("path", ["/v1/buildings", "/v1/buildings/hq/rooms", "/v1/sensor-types"])
def test_forged_registry_cursor_is_422(seeded: TestClient, path: str, inner: str) -> None:
    r = seeded.get(f"{path}?cursor={_cursor(inner)}")
    assert assert_envelope(r, 422)["error"]["details"][0]["field"] == "cursor"


def test_issued_cursors_still_work(seeded: TestClient) -> None:
    assert seeded.get("/v1/buildings?cursor=").json()["items"][0]["key"] == "hq"  # first page
    for n in range(3):
        assert seeded.put(f"/v1/buildings/b{n}", json={}).status_code in (200, 201)
    page = seeded.get("/v1/buildings?limit=2").json()
    rest = seeded.get(f"/v1/buildings?limit=2&cursor={page['next_cursor']}").json()
    assert len(page["items"]) + len(rest["items"]) == 4
    for minute in (56, 57):
        seeded.post("/v1/captures", json=capture(21.0, ts=f"2026-11-22T11:{minute}:00Z"))
    first = seeded.get("/v1/buildings/hq/rooms/3.14/captures?limit=2").json()
    nxt = seeded.get(
        f"/v1/buildings/hq/rooms/3.14/captures?limit=2&cursor={first['next_cursor']}"
    ).json()
    assert [c["ts"] for c in nxt["captures"]] == ["2026-11-22T11:57:00Z"]


def test_csv_cell_over_the_csv_field_limit_is_a_rejected_row(client: TestClient) -> None:
    huge = "9" * 131_073
    body = (
        "building,room,value,unit,ts\n"
        "hq,3.14,20,celsius,2026-11-22T10:00:00Z\n"
        f"hq,3.14,{huge},celsius,2026-11-22T10:15:00Z\n"
    )
    r = client.post("/v1/captures", content=body, headers={"content-type": "text/csv"})
    [detail] = assert_envelope(r, 422)["error"]["details"]
    assert (detail["index"], detail["code"]) == (1, "unreadable_row")
    assert "longer than 131,072 characters" in detail["message"]
    header = f"building,room,value,ts,{huge}\n"
    r = client.post("/v1/captures", content=header, headers={"content-type": "text/csv"})
    assert assert_envelope(r, 422)["error"]["details"][0]["code"] == "bad_format"


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        (-60.0, "celsius"),
        (-76.0, "fahrenheit"),
        (213.15, "kelvin"),
        (100.0, "celsius"),
        (212.0, "fahrenheit"),
        (373.15, "kelvin"),
    ],
)
def test_documented_bounds_are_inclusive_in_every_unit(
    client: TestClient, db: psycopg.Connection[Any], value: float, unit: str
) -> None:
    r = client.post("/v1/captures", json=capture(value, unit=unit))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("value", "unit"),
    [(-60.001, "celsius"), (-76.01, "fahrenheit"), (100.001, "celsius"), (373.16, "kelvin")],
)
def test_just_outside_the_bounds_is_still_refused(
    client: TestClient, value: float, unit: str
) -> None:
    r = client.post("/v1/captures", json=capture(value, unit=unit))
    assert assert_envelope(r, 422)["error"]["details"][0]["code"] == "implausible_value"


def test_sensor_type_bounds_at_absolute_zero_in_fahrenheit(client: TestClient) -> None:
    r = client.put(
        "/v1/sensor-types/cold", json={"unit": "F", "min_value": -459.67, "max_value": 100}
    )
    assert r.status_code == 201, r.text


def _report(client: TestClient, query: str) -> dict[str, Any]:
    r = client.get(
        "/v1/buildings/hq/report?from=2026-11-22T10:00:00Z&to=2026-11-22T12:00:00Z" + query
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_report_comfort_bounds_without_unit_are_celsius(client: TestClient) -> None:
    # 22 °C all along: inside 20 … 24 °C, whatever unit the bounds or the answer are in.
    assert client.post("/v1/captures", json=capture(22.0, ts="2026-11-22T10:00:00Z")).is_success
    bare = _report(client, "&comfort_low=20&comfort_high=24")
    [room] = bare["rooms"]
    assert (room["share_below"], room["share_above"]) == (0.0, 0.0)
    assert bare["unit"] == "kelvin"  # the answer keeps its unit; bounds echoed in it
    assert math.isclose(bare["comfort_low"], 293.15)
    assert math.isclose(bare["comfort_high"], 297.15)
    explicit = _report(client, "&comfort_low=68&comfort_high=75.2&unit=fahrenheit")
    assert (explicit["rooms"][0]["share_below"], explicit["rooms"][0]["share_above"]) == (0, 0)
    assert (explicit["comfort_low"], explicit["comfort_high"]) == (68, 75.2)
    kelvin = _report(client, "&comfort_low=293.15&comfort_high=294&unit=K")
    assert kelvin["rooms"][0]["share_above"] == 1.0


@pytest.mark.parametrize("path", READ_PATHS)
def test_an_unencoded_plus_in_a_time_gets_a_hint(seeded: TestClient, path: str) -> None:
    # Sent as the operator typed it: the query string decodes the offset's `+` as a space.
    r = seeded.get(path.format(t="2026-11-22T12:30:00+01:00"))
    [detail] = assert_envelope(r, 422)["error"]["details"]
    assert detail["field"] in ("at", "from", "to")
    assert "a '+' in a URL query must be sent as %2B, or use Z" in detail["message"]
    assert "%2B" in r.json()["error"]["message"]
    assert seeded.get(path.format(t="2026-11-22T12:30:00%2B01:00")).status_code == 200
