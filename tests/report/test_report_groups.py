"""Period reports grouped by local day, week and month (group_by, tz) on a year of captures
(tests/bucket_data.py): the periods' bounds (local midnights, found independently), every
period of every room against tests/reference.py (pooled_report), and the counts adding up."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from roomtemp.report import queries as report_queries
from tests import bucket_data, reference
from tests.average.test_buckets import ref_edges

LOW, HIGH = 20.0, 24.0


@pytest.fixture
def data(db: psycopg.Connection[Any], database_url: str) -> bucket_data.Data:
    return bucket_data.write(db, database_url)


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, datetime):
        return (
            actual is not None
            and abs((datetime.fromisoformat(actual) - expected).total_seconds()) <= 1e-6
        )
    if isinstance(expected, float):
        return actual is not None and abs(actual - expected) <= 1e-9
    return bool(actual == expected)


@pytest.mark.parametrize(
    ("group_by", "step", "zone_name", "frm", "to"),
    [
        ("day", "1d", "Europe/Zurich", "2026-03-27T10:00:00Z", "2026-04-01T00:00:00Z"),
        ("day", "1d", "Europe/Zurich", "2026-10-23T00:00:00Z", "2026-10-27T00:00:00Z"),
        ("day", "1d", "Asia/Kathmandu", "2026-06-08T00:00:00Z", "2026-06-19T00:00:00Z"),
        ("week", "1w", "America/New_York", "2026-02-20T00:00:00Z", "2026-03-20T00:00:00Z"),
        ("month", "1M", "Asia/Kolkata", "2026-01-15T00:00:00Z", "2026-05-02T00:00:00Z"),
    ],
)
@pytest.mark.parametrize("rollups", [False, True])
def test_periods_match_reference(
    client: TestClient,
    db: psycopg.Connection[Any],
    data: bucket_data.Data,
    monkeypatch: pytest.MonkeyPatch,
    group_by: str,
    step: str,
    zone_name: str,
    frm: str,
    to: str,
    rollups: bool,
) -> None:
    """Raw: bounds the rollups were not counted for. Rollups: the stored bounds, and the raw
    statement refused (so the pieces answered), in one statement for all periods."""
    row = db.execute(
        "SELECT unit, comfort_low, comfort_high FROM sensor_type WHERE key = 'temperature'"
    ).fetchone()
    assert row is not None
    unit, low, high = row if rollups else (row[0], LOW, HIGH)
    calls = []
    real = report_queries.select_room_periods

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(bool(kwargs.get("rollups")))
        return await real(*args, **kwargs)

    monkeypatch.setattr(report_queries, "select_room_periods", counted)
    r = client.get(
        "/v1/buildings/hq/report",
        params={
            "from": frm,
            "to": to,
            "group_by": group_by,
            "tz": zone_name,
            "unit": unit,
            "comfort_low": low,
            "comfort_high": high,
        },
    )
    # one statement for the periods, one for [from, to); rollups: both from the pieces
    assert calls == ([True, True] if rollups else [False, False])
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["group_by"], body["time_zone"]) == (group_by, zone_name)
    zone = ZoneInfo(zone_name)
    edges = ref_edges(datetime.fromisoformat(frm), datetime.fromisoformat(to), step, zone)
    assert [x["room"] for x in body["rooms"]] == bucket_data.ROOMS
    for room in body["rooms"]:
        periods = room["periods"]
        assert [datetime.fromisoformat(p["start"]) for p in periods] == edges[:-1]
        assert [datetime.fromisoformat(p["end"]) for p in periods] == edges[1:]
        for p in periods:
            assert datetime.fromisoformat(p["start"]).utcoffset() == (
                datetime.fromisoformat(p["start"]).astimezone(zone).utcoffset()
            )
        for p, a, z in zip(periods, edges, edges[1:], strict=False):
            expected = reference.pooled_report(data, room["room"], a, z, low, high)
            for key, value in expected.items():
                assert _same(p[key], value), (room["room"], a, key, p[key], value)
        # the room's own report is over [from, to), unchanged by group_by
        whole = reference.pooled_report(
            data,
            room["room"],
            datetime.fromisoformat(frm),
            datetime.fromisoformat(to),
            low,
            high,
        )
        assert room["count"] == whole["count"]
    covered = client.get(
        "/v1/buildings/hq/report",
        params={"from": edges[0].isoformat(), "to": edges[-1].isoformat()},
    ).json()
    for room, total in zip(body["rooms"], covered["rooms"], strict=True):
        assert sum(p["count"] for p in room["periods"]) == total["count"]


def test_csv_has_a_row_per_room_and_period(client: TestClient, data: bucket_data.Data) -> None:
    r = client.get(
        "/v1/buildings/hq/report",
        params={
            "from": "2026-03-28T00:00:00Z",
            "to": "2026-03-31T00:00:00Z",
            "group_by": "day",
            "tz": "Europe/Zurich",
            "format": "csv",
        },
    )
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 3 * 4  # three rooms; 28 March … 31 March (holding 23:59Z of the 30th)
    assert rows[1]["start"] == "2026-03-29T00:00:00+01:00"
    assert rows[1]["end"] == "2026-03-30T00:00:00+02:00"


def test_tz_without_group_by_is_refused(client: TestClient, data: bucket_data.Data) -> None:
    r = client.get(
        "/v1/buildings/hq/report",
        params={"from": "2026-03-28T00:00:00Z", "to": "2026-03-31T00:00:00Z", "tz": "UTC"},
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "tz"
