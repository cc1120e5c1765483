"""GET /v1/buildings/{b}/report: every value checked against a plain-Python reference."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import capture
from tests.pieces import reference

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 8, tzinfo=UTC)
LOW, HIGH = 20.0, 24.0  # celsius


def _close(a: Any, b: Any) -> bool:
    if isinstance(b, float) and a is not None:
        return bool(abs(a - b) < 1e-6)
    return bool(a == b)


def test_report_matches_reference(client: TestClient) -> None:
    rng = random.Random(7)
    rooms: dict[str, list[tuple[datetime, float]]] = {}
    for room in ("a", "b", "c"):
        t = START - timedelta(hours=5)
        series = []
        while t < END + timedelta(hours=3):
            series.append((t, round(rng.uniform(17, 27), 1)))
            t += timedelta(minutes=rng.choice([5, 10, 15, 240]))
        rooms[room] = series
    rooms["carry-only"] = [(START - timedelta(days=1), 21.0)]
    rooms["empty-in-period"] = [(END + timedelta(hours=1), 30.0)]
    rooms["ties"] = [
        (START + timedelta(hours=h), v) for h, v in ((1, 22.0), (2, 19.0), (3, 22.0), (4, 19.0))
    ]
    body = [capture(v, building="site", room=room, ts=t) for room, s in rooms.items() for t, v in s]
    for i in range(0, len(body), 5000):
        assert client.post("/v1/captures", json=body[i : i + 5000]).status_code == 201

    params = {"from": START.isoformat(), "to": END.isoformat(), "unit": "celsius"}
    r = client.get("/v1/buildings/site/report", params=params)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["from"], got["to"], got["unit"]) == (
        "2026-11-01T00:00:00Z",
        "2026-11-08T00:00:00Z",
        "celsius",
    )
    assert (got["comfort_low"], got["comfort_high"]) == pytest.approx((LOW, HIGH))
    assert [x["room"] for x in got["rooms"]] == sorted(rooms)
    for row in got["rooms"]:
        exp = reference(rooms[row["room"]], START, END, LOW, HIGH)
        for key, value in exp.items():
            actual = row[key]
            if isinstance(value, datetime):
                actual = datetime.fromisoformat(actual)
            assert _close(actual, value), (row["room"], key, actual, value)
    ties = next(x for x in got["rooms"] if x["room"] == "ties")
    assert ties["min_ts"] == "2026-11-01T02:00:00Z"  # the first of two equal minima

    # CSV: same numbers, one line per room; custom bounds in fahrenheit.
    r = client.get(
        "/v1/buildings/site/report",
        params={**params, "unit": "fahrenheit", "comfort_low": 68, "comfort_high": 75.2},
        headers={"Accept": "text/csv"},
    )
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="report_site_temperature.csv"'
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [x["room"] for x in rows] == sorted(rooms)
    a = next(x for x in rows if x["room"] == "a")
    exp = reference(rooms["a"], START, END, 20.0, 24.0)
    assert float(a["mean"]) == pytest.approx(exp["mean"] * 9 / 5 + 32)
    assert float(a["share_below"]) == pytest.approx(exp["share_below"])
    empty = next(x for x in rows if x["room"] == "empty-in-period")
    assert (empty["count"], empty["mean"], empty["longest_gap_seconds"]) == ("0", "", "604800.0")


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, 422),
        ({"from": "2025-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, 422),
        ({"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z", "unit": "lumen"}, 422),
        ({"from": "2026-11-01T00:00:00Z"}, 422),
    ],
)
def test_report_rejects_bad_parameters(
    client: TestClient, params: dict[str, str], status: int
) -> None:
    assert client.post("/v1/captures", json=capture(building="site")).status_code == 201
    r = client.get("/v1/buildings/site/report", params=params)
    assert r.status_code == status
    assert "error" in r.json()


def test_report_unknown_building(client: TestClient) -> None:
    r = client.get("/v1/buildings/nope/report", params={"from": "0", "to": "60"})
    assert r.status_code == 404
