"""POST /v1/captures with NDJSON and CSV bodies: rows, column order, bad rows, limits."""

from __future__ import annotations

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
