"""GET .../captures: JSON pages that follow the cursor, CSV and NDJSON streams that upload again."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.factories import capture

NDJSON = {"Content-Type": "application/x-ndjson"}
CSV = {"Content-Type": "text/csv"}


def _seed(client: TestClient, n: int) -> list[datetime]:
    base = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    stamps = [base + timedelta(seconds=37 * i) for i in range(n)]
    body = [capture(20 + i / 100, ts=t) for i, t in enumerate(stamps)]
    assert client.post("/v1/captures", json=body).status_code == 201
    return stamps


def test_export_pages_follow_the_cursor(client: TestClient) -> None:
    stamps = _seed(client, 250)
    url = "/v1/buildings/hq/rooms/3.14/captures"
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 100, "unit": "celsius", "from": stamps[10].isoformat()}
    while True:
        r = client.get(url, params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["unit"] == "celsius"
        seen += [c["ts"] for c in page["captures"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == [t.isoformat().replace("+00:00", "Z") for t in stamps[11:]]
    first = client.get(url, params={"limit": 1, "unit": "celsius"}).json()["captures"][0]
    assert abs(first["value"] - 20.0) < 1e-9
    assert client.get(url, params={"cursor": "!!"}).status_code == 422
    assert client.get("/v1/buildings/hq/rooms/nope/captures").status_code == 404


def test_export_streams_csv_and_ndjson_that_upload_again(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    stamps = _seed(client, 120)
    url = "/v1/buildings/hq/rooms/3.14/captures"
    r = client.get(url, headers={"Accept": "text/csv"}, params={"to": stamps[99].isoformat()})
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 100
    assert rows[0]["unit"] == "kelvin"
    nd = client.get(url, headers={"Accept": "application/x-ndjson"}).content
    assert len(nd.splitlines()) == 120
    before = db.execute("SELECT ts, value FROM capture ORDER BY ts").fetchall()
    db.execute("TRUNCATE capture")
    assert client.post("/v1/captures", content=r.text, headers=CSV).json()["inserted"] == 100
    assert client.post("/v1/captures", content=nd, headers=NDJSON).json() == {
        "inserted": 20,
        "duplicates": 100,
        "updated": 0,
    }
    assert db.execute("SELECT ts, value FROM capture ORDER BY ts").fetchall() == before


def _items_of_csv(text: str) -> list[dict[str, Any]]:
    """CSV rows as the JSON page's items: a default sensor's row has an empty `sensor` cell and
    its key is building/room/sensor_type."""
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    return [
        {
            "ts": datetime.fromisoformat(row["ts"]),
            "value": float(row["value"]),
            "sensor": row["sensor"] or f"{row['building']}/{row['room']}/{row['sensor_type']}",
        }
        for row in rows
    ]


def test_format_csv_streams_the_items_of_the_json_pages(client: TestClient) -> None:
    stamps = _seed(client, 30)
    placed = {"sensor_type": "temperature", "building": "hq", "room": "3.14"}
    assert client.post("/v1/sensors", json={"key": "zb-1", **placed}).status_code == 201
    on_sensor = [
        {"sensor": "zb-1", "value": 19.0 + i, "unit": "celsius", "ts": stamps[i].isoformat()}
        for i in (3, 7)
    ]
    assert client.post("/v1/captures", json=on_sensor).status_code == 201
    url = "/v1/buildings/hq/rooms/3.14/captures"
    params = {"unit": "celsius", "from": stamps[1].isoformat()}
    page = client.get(url, params={**params, "limit": 1000}).json()
    assert page["next_cursor"] is None
    expected = [{**c, "ts": datetime.fromisoformat(c["ts"])} for c in page["captures"]]
    assert len(expected) == 30  # 28 of the default sensor after stamps[1], 2 of zb-1
    assert {c["sensor"] for c in expected} == {"hq/3.14/temperature", "zb-1"}
    # format=csv wins over an Accept header asking for JSON, and the reverse.
    r = client.get(url, params={**params, "format": "csv"}, headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == (
        'attachment; filename="captures_hq_3.14_temperature.csv"'
    )
    assert r.text.startswith("building,room,sensor_type,sensor,value,unit,ts\r\n")
    assert _items_of_csv(r.text) == expected
    same = client.get(url, params={**params, "format": "json"}, headers={"Accept": "text/csv"})
    assert same.json() == page
    nd = client.get(url, params={**params, "format": "ndjson"})
    assert nd.headers["content-type"] == "application/x-ndjson"
    assert nd.headers["content-disposition"].endswith('captures_hq_3.14_temperature.ndjson"')
    assert len(nd.content.splitlines()) == 30
    sensor = client.get("/v1/sensors/hq/3.14/temperature/captures", params={"format": "csv"})
    assert sensor.headers["content-disposition"].endswith('"captures_hq_3.14_temperature.csv"')
    assert len(_items_of_csv(sensor.text)) == 30
    zb = client.get("/v1/sensors/zb-1/captures", params={"format": "csv", "unit": "celsius"})
    assert zb.headers["content-disposition"].endswith('"captures_zb-1.csv"')
    assert [c["value"] for c in _items_of_csv(zb.text)] == pytest.approx([22.0, 26.0])


@pytest.mark.parametrize("path", ["/v1/buildings/hq/rooms/3.14/captures", "/v1/sensors/x/captures"])
def test_an_unknown_format_is_refused(client: TestClient, path: str) -> None:
    r = client.get(path, params={"format": "xml"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert [d["field"] for d in error["details"]] == ["format"]


def test_export_is_right_closed_and_report_left_closed(client: TestClient) -> None:
    """Pins docs/api.md: a capture at `from` is in the report, not the export; one at `to` is in
    the export, not the report; the export of (t - window, t] is the window's captures;
    consecutive reports add up."""
    start = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    end = start + timedelta(minutes=15)
    stamps = [start - timedelta(minutes=1), start, start + timedelta(minutes=7), end]
    body = [capture(20 + i, ts=t) for i, t in enumerate(stamps)]
    assert client.post("/v1/captures", json=body).status_code == 201
    bounds = {"from": start.isoformat(), "to": end.isoformat()}
    exported = client.get("/v1/buildings/hq/rooms/3.14/captures", params=bounds).json()
    assert [datetime.fromisoformat(c["ts"]) for c in exported["captures"]] == stamps[2:]
    window = client.get(
        "/v1/buildings/hq/rooms/3.14/average", params={"at": end.isoformat(), "window": "15m"}
    ).json()
    assert window["count"] == len(exported["captures"])

    def report_count(frm: datetime, to: datetime) -> int:
        params = {"from": frm.isoformat(), "to": to.isoformat()}
        r = client.get("/v1/buildings/hq/report", params=params)
        assert r.status_code == 200, r.text
        [room] = r.json()["rooms"]
        count: int = room["count"]
        return count

    assert report_count(start, end) == 2  # start and start + 7 min
    later = end + timedelta(minutes=15)
    assert report_count(end, later) == 1  # end
    assert report_count(start, later) == report_count(start, end) + report_count(end, later)
