"""POST /v1/captures with NDJSON and CSV bodies; GET .../captures pages and streams."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
from fastapi.testclient import TestClient

from tests.conftest import ClientFactory
from tests.factories import capture

NDJSON = {"Content-Type": "application/x-ndjson"}
CSV = {"Content-Type": "text/csv"}


def test_ndjson_body(client: TestClient, db: psycopg.Connection[Any]) -> None:
    lines = [orjson.dumps(capture(20 + n, ts=f"2026-11-22T10:0{n}:00Z")) for n in range(3)]
    body = b"\n".join(lines) + b"\n\n"  # a trailing blank line is fine
    r = client.post("/v1/captures", content=body, headers=NDJSON)
    assert r.status_code == 201, r.text
    assert r.json() == {"inserted": 3, "duplicates": 0, "updated": 0}
    r = client.post("/v1/captures", content=body, headers=NDJSON)
    assert r.json() == {"inserted": 0, "duplicates": 3, "updated": 0}


def test_csv_body_with_any_column_order(client: TestClient, db: psycopg.Connection[Any]) -> None:
    body = (
        "ts,value,room,building,unit\r\n"
        "2026-11-22T10:00:00Z,21.5,3.14,hq,celsius\r\n"
        "1795341660,70.7,3.14,hq,fahrenheit\r\n"
    )
    headers = {"Content-Type": "text/csv; charset=utf-8"}
    r = client.post("/v1/captures", content=body, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["inserted"] == 2
    values = [v for (v,) in db.execute("SELECT value FROM capture ORDER BY ts")]
    assert values[0] == 294.65
    assert abs(values[1] - ((70.7 - 32) * 5 / 9 + 273.15)) < 1e-9


def test_bad_rows_are_all_named_and_nothing_is_stored(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    body = (
        "building,room,value,unit,ts\n"
        "hq,1,21,celsius,2026-11-22T10:00:00Z\n"
        "hq,2,warm,celsius,2026-11-22T10:00:00Z\n"
        "hq,3,21\n"
        "hq,4,21,lumen,2026-11-22T10:00:00Z\n"
    )
    r = client.post("/v1/captures", content=body, headers=CSV)
    assert r.status_code == 422
    details = r.json()["error"]["details"]
    assert [(d["index"], d["code"]) for d in details] == [
        (1, "float_type"),
        (2, "unreadable_row"),
        (3, "bad_unit"),
    ]
    assert "line 4: expected 5 cells, got 3" in details[1]["message"]
    assert db.execute("SELECT count(*) FROM capture").fetchone() == (0,)


def test_unreadable_uploads(client: TestClient) -> None:
    r = client.post("/v1/captures", content="when,where\n1,2\n", headers=CSV)
    assert r.status_code == 422  # readable text, but not a capture header
    assert "header" in r.json()["error"]["details"][0]["message"]
    r = client.post("/v1/captures", content=b"\xff\xfe", headers=CSV)
    assert r.status_code == 400
    r = client.post("/v1/captures", content=b"[1, 2]\n", headers=NDJSON)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["code"] == "unreadable_row"
    r = client.post("/v1/captures", content=b"", headers=NDJSON)
    assert r.status_code == 422  # empty batch


def test_upload_batch_limit(client_factory: ClientFactory) -> None:
    client = client_factory(max_batch_size=2)
    lines = [orjson.dumps(capture(ts=f"2026-11-22T10:0{n}:00Z")) for n in range(3)]
    r = client.post("/v1/captures", content=b"\n".join(lines), headers=NDJSON)
    assert r.status_code == 413


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
