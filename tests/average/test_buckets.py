"""Bucket-mode series (mode=buckets) against tests/reference.py on a year of captures
(tests/bucket_data.py): every bucket's bounds (edges found independently, by scanning a UTC
grid for instants whose local wall time starts a bucket), count, mean, min, max, time-weighted
mean and sensors, in Europe/Zurich across both DST changes (23 h and 25 h days, the repeated
hour), America/New_York, Asia/Kolkata (+05:30) and Asia/Kathmandu (+05:45), for 15m, 1h, 1d, 1w,
1M and 1y buckets; sum of counts == the period report's count over the covered range."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests import bucket_data, reference
from tests.conftest import ClientFactory

TOL = 1e-9
Data = bucket_data.Data
MINUTES = {"15m": 15, "1h": 60, "2h": 120, "1m": 1}


@pytest.fixture
def data(db: psycopg.Connection[Any], database_url: str) -> Data:
    return bucket_data.write(db, database_url)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _starts(local: datetime, step: str) -> bool:
    if step in MINUTES:
        return (local.hour * 60 + local.minute) % MINUTES[step] == 0
    midnight = local.hour == 0 and local.minute == 0
    return (
        midnight
        and {
            "1d": True,
            "1w": local.weekday() == 0,
            "1M": local.day == 1,
            "1y": local.day == 1 and local.month == 1,
        }[step]
    )


def ref_edges(start: datetime, end: datetime, step: str, zone: ZoneInfo) -> list[datetime]:
    """The edges of the whole buckets covering [start, end), by brute force: every instant of a
    UTC grid (1 min, or 15 min: every zone's offset is a multiple of it) whose local wall time
    starts a bucket; a repeated local hour gives two instants, a skipped one none."""
    grid = timedelta(minutes=1 if MINUTES.get(step, 15) < 15 else 15)
    pad = timedelta(days={"1w": 8, "1M": 32, "1y": 367}.get(step, 2))
    t = datetime(start.year - 1, 12, 20, tzinfo=UTC) if step == "1y" else start - pad
    t = t - timedelta(seconds=t.timestamp() % grid.total_seconds())
    found = []
    while t <= end + pad:
        if _starts(t.astimezone(zone), step):
            found.append(t)
        t += grid
    lo = max(i for i, e in enumerate(found) if e <= start)
    hi = min(i for i, e in enumerate(found) if e >= end)
    return found[lo : hi + 1]


def close(actual: float | None, expected: float | None) -> bool:
    if expected is None:
        return actual is None
    return actual is not None and abs(actual - expected) <= TOL


def check_points(
    points: Sequence[dict[str, Any]],
    expected: Sequence[reference.Pooled],
    edges: Sequence[datetime],
    zone: ZoneInfo,
) -> None:
    assert len(points) == len(expected) == len(edges) - 1
    for i, (p, e) in enumerate(zip(points, expected, strict=True)):
        t, end = datetime.fromisoformat(p["t"]), datetime.fromisoformat(p["end"])
        assert (t, end) == (edges[i], edges[i + 1]), (i, p)
        # the zone's offset at each instant
        assert t.utcoffset() == edges[i].astimezone(zone).utcoffset(), p
        assert end.utcoffset() == edges[i + 1].astimezone(zone).utcoffset(), p
        assert (p["count"], p["sensors"]) == (e.count, e.sensors), (i, p, e)
        for name in ("mean", "min", "max", "time_weighted_mean"):
            assert close(p[name], getattr(e, name)), (i, name, p, e)


def dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


# (zone, step, from, to): DST days of Zurich (23 h, 25 h) and New York, half-hour and
# 45-minute offsets, a whole year of days, weeks, months; from/to off the edges.
CASES = [
    ("Europe/Zurich", "1h", "2026-03-28T12:34:00Z", "2026-03-30T03:00:00Z"),
    ("Europe/Zurich", "1h", "2026-10-24T20:00:00Z", "2026-10-26T02:10:00Z"),
    ("Europe/Zurich", "15m", "2026-10-24T23:00:00Z", "2026-10-25T04:00:00Z"),
    ("Europe/Zurich", "1d", "2026-03-20T00:00:00Z", "2026-04-02T00:00:00Z"),
    ("Europe/Zurich", "1d", "2026-10-20T00:00:00Z", "2026-11-03T00:00:00Z"),
    ("Europe/Zurich", "1d", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
    ("Europe/Zurich", "1w", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
    ("Europe/Zurich", "1M", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
    ("Europe/Zurich", "1y", "2026-02-01T00:00:00Z", "2026-12-01T00:00:00Z"),
    ("America/New_York", "1d", "2026-03-01T00:00:00Z", "2026-03-15T00:00:00Z"),
    ("America/New_York", "1h", "2026-10-31T18:00:00Z", "2026-11-02T12:00:00Z"),
    ("Asia/Kolkata", "1h", "2026-03-28T10:00:00Z", "2026-03-30T10:00:00Z"),
    ("Asia/Kolkata", "1d", "2026-05-01T00:00:00Z", "2026-07-01T00:00:00Z"),
    ("Asia/Kathmandu", "1h", "2026-10-24T10:00:00Z", "2026-10-26T10:00:00Z"),
    ("Asia/Kathmandu", "1d", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
    ("UTC", "15m", "2026-03-07T22:00:00Z", "2026-03-09T01:00:00Z"),
]


def test_room_buckets_match_reference(client: TestClient, data: Data) -> None:
    several = empty = carried = 0
    for zone_name, step, frm, to in CASES:
        zone = ZoneInfo(zone_name)
        edges = ref_edges(dt(frm), dt(to), step, zone)
        for room in bucket_data.ROOMS:
            r = client.get(
                f"/v1/buildings/hq/rooms/{room}/averages",
                params={"mode": "buckets", "from": frm, "to": to, "step": step, "tz": zone_name},
            )
            assert r.status_code == 200, r.text
            body = r.json()
            assert (body["mode"], body["step"], body["time_zone"]) == ("buckets", step, zone_name)
            assert (dt(body["from"]), dt(body["to"])) == (edges[0], edges[-1])
            expected = reference.pooled_buckets(data, room, edges)
            check_points(body["points"], expected, edges, zone)
            several += sum(p["sensors"] > 1 for p in body["points"])
            empty += sum(p["count"] == 0 for p in body["points"])
            carried += sum(e.count > 0 and e.time_weighted_mean != e.mean for e in expected)
    # the data exercises them
    assert several > 100
    assert empty > 100
    assert carried > 100


def test_dst_days_are_23_and_25_hours(client: TestClient, data: Data) -> None:
    body = client.get(
        "/v1/buildings/hq/rooms/r1/averages",
        params={
            "mode": "buckets",
            "from": "2026-03-29T00:00:00+01:00",
            "to": "2026-03-30T00:00:00+02:00",
            "step": "1d",
            "tz": "Europe/Zurich",
        },
    ).json()
    [p] = body["points"]
    assert (p["t"], p["end"]) == ("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00")
    body = client.get(
        "/v1/buildings/hq/rooms/r1/averages",
        params={
            "mode": "buckets",
            "from": "2026-10-25T00:30:00Z",
            "to": "2026-10-25T01:30:00Z",
            "step": "1h",
            "tz": "Europe/Zurich",
        },
    ).json()
    # the repeated hour: 02:00 +02:00 and 02:00 +01:00 are two buckets
    assert [p["t"] for p in body["points"]] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
    ]


def test_sum_of_counts_is_the_report_count(client: TestClient, data: Data) -> None:
    for zone_name, step, frm, to in CASES:
        body = client.get(
            "/v1/buildings/hq/averages",
            params={"mode": "buckets", "from": frm, "to": to, "step": step, "tz": zone_name},
        ).json()
        report = client.get(
            "/v1/buildings/hq/report", params={"from": body["from"], "to": body["to"]}
        ).json()
        counts = {r["room"]: r["count"] for r in report["rooms"]}
        assert counts["r1"] > 0
        for room in body["rooms"]:
            assert sum(p["count"] for p in room["points"]) == counts[room["room"]], room["room"]


def test_building_series_is_every_room(client: TestClient, data: Data) -> None:
    for zone_name, step, frm, to in CASES[:6]:
        params = {"mode": "buckets", "from": frm, "to": to, "step": step, "tz": zone_name}
        body = client.get("/v1/buildings/hq/averages", params=params).json()
        assert [r["room"] for r in body["rooms"]] == bucket_data.ROOMS
        for room in body["rooms"]:
            one = client.get(f"/v1/buildings/hq/rooms/{room['room']}/averages", params=params)
            # the same sums, added in another order: equal to 1e-9
            for p, q in zip(room["points"], one.json()["points"], strict=True):
                assert {k: v for k, v in p.items() if not isinstance(v, float)} == {
                    k: v for k, v in q.items() if not isinstance(v, float)
                }
                for k, v in p.items():
                    if isinstance(v, float):
                        assert close(q[k], v), (k, p, q)


def test_sensor_buckets_match_reference(client: TestClient, data: Data) -> None:
    for zone_name, step, frm, to in CASES[:6]:
        zone = ZoneInfo(zone_name)
        edges = ref_edges(dt(frm), dt(to), step, zone)
        for name in ("b", "c"):  # the moved ones: their own series cross rooms
            body = client.get(
                f"/v1/sensors/{name}/averages",
                params={"mode": "buckets", "from": frm, "to": to, "step": step, "tz": zone_name},
            ).json()
            assert body["sensor"] == name
            check_points(body["points"], reference.sensor_buckets(data[name], edges), edges, zone)


def test_zone_of_the_building(client: TestClient, data: Data, db: psycopg.Connection[Any]) -> None:
    db.execute("UPDATE building SET time_zone = 'Asia/Kathmandu'")
    params = {"mode": "buckets", "from": "2026-05-01T00:00:00Z", "to": "2026-05-02T00:00:00Z"}
    body = client.get("/v1/buildings/hq/rooms/r1/averages", params={**params, "step": "1d"})
    assert body.json()["time_zone"] == "Asia/Kathmandu"
    assert body.json()["points"][0]["t"] == "2026-05-01T00:00:00+05:45"
    body = client.get("/v1/sensors/a/averages", params={**params, "step": "1h"})
    assert body.json()["points"][0]["t"] == "2026-05-01T05:00:00+05:45"  # 23:15 UTC
    body = client.get("/v1/buildings/hq/averages", params={**params, "tz": "UTC", "step": "1d"})
    assert body.json()["time_zone"] == "UTC"


@pytest.mark.parametrize(
    ("requested", "used"),
    [("500ms", "1m"), ("10s", "1m"), ("7m", "10m"), ("2h", "2h"), ("7d", "1w"), ("30d", "1M")],
)
def test_step_rounds_up_to_the_ladder(client: TestClient, requested: str, used: str) -> None:
    client.put("/v1/buildings/hq", json={"name": "HQ"})
    client.put("/v1/buildings/hq/rooms/r1", json={"name": "R1"})
    body = client.get(
        "/v1/buildings/hq/rooms/r1/averages",
        params={
            "mode": "buckets",
            "from": "2026-01-01T00:00:00Z",
            "to": "2026-01-02T00:00:00Z",
            "step": requested,
        },
    ).json()
    assert (body["step"], body["requested_step"]) == (used, requested)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"mode": "buckets", "window": "15m"}, "window"),
        ({"mode": "buckets", "tz": "Mars/Olympus"}, "tz"),
        ({"mode": "buckets", "step": "1m", "to": "2026-02-01T00:00:00Z"}, "step"),
        ({"mode": "buckets", "step": "2y"}, "step"),
        ({"mode": "rolling", "tz": "UTC"}, "tz"),
    ],
)
def test_refused(client_factory: ClientFactory, params: dict[str, str], field: str) -> None:
    client = client_factory()
    client.put("/v1/buildings/hq", json={"name": "HQ"})
    client.put("/v1/buildings/hq/rooms/r1", json={"name": "R1"})
    query = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", **params}
    r = client.get("/v1/buildings/hq/rooms/r1/averages", params=query)
    assert r.status_code == 422, r.text
    assert [d["field"] for d in r.json()["error"]["details"]] == [field]
    at = {"mode": "buckets", "at": "2026-01-01T00:00:00Z", **query}
    r = client.get("/v1/buildings/hq/averages", params=at)
    assert r.status_code == 422, r.text
