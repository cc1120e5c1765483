"""GET .../captures: JSON pages that follow the cursor, CSV and NDJSON streams that upload again."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
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
