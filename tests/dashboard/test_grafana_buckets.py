"""The PostgreSQL dashboard's series panels (helm/roomtemp/dashboards/roomtemp-postgres.json) at
every zoom against the API's mode=auto on a year of captures (tests/bucket_data.py): with
Grafana's macros expanded for 6 h, 30 days and 1 year (and every rung of the bucket ladder), each
point equals the API's (t, count, mean, min, max, sensors) to 1e-9 in Europe/Zurich across its
DST changes, Asia/Kathmandu (+05:45), America/New_York and Asia/Kolkata, and the counts add up
to the period report's.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests import bucket_data
from tests.conftest import ClientFactory
from tests.dashboard.grafana_variables import hidden_values
from tests.dashboard.test_grafana import DASHBOARDS, MAX_DATA_POINTS, grafana_interval

TOL = 1e-9
ROOM, SENSOR = 2, 3  # panel ids: the room's series, each sensor's series
SENSORS = ["hq/r1/temperature", "a", "b", "c"]  # every temperature sensor that has been in r1


def _interval_text(ms: int) -> str:
    """$__interval for $__interval_ms (Grafana writes the largest whole unit)."""
    seconds = ms // 1000
    for suffix, size in (("y", 31_536_000), ("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{suffix}"
    return f"{seconds}s"


def _grafana_ms(span: timedelta) -> int:
    """$__interval_ms for a range, as Grafana picks it (maxDataPoints 500, min interval 1m)."""
    text = grafana_interval(int(span.total_seconds() * 1000))
    size = {"y": 31_536_000_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000}[text[-1]]
    return int(text[:-1]) * size


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# (from, span, $__interval_ms or None for Grafana's pick): off every edge, across DST changes.
VIEWS: list[tuple[str, timedelta, int | None]] = [
    ("2026-10-24T22:10:30Z", timedelta(hours=6), None),  # 1m: rolling windows, Zurich's long day
    ("2026-03-28T21:47:00Z", timedelta(hours=6), None),  # the short day
    ("2026-10-10T05:17:00Z", timedelta(days=30), None),  # 1h buckets over the 25 h day
    ("2026-01-03T05:17:00Z", timedelta(days=365), None),  # 12h buckets over both changes
    ("2026-03-25T00:00:00Z", timedelta(days=7), 1_200_000),  # 20m (a 5-minute grid)
    ("2026-03-10T13:00:00Z", timedelta(days=40), 7_200_000),  # 2h: 02:00 skipped in spring
    ("2026-10-20T00:00:00Z", timedelta(days=10), 14_400_000),  # 4h over the repeated hour
    ("2026-03-01T09:00:00Z", timedelta(days=60), 86_400_000),  # 1d: 23 h and 25 h days
    ("2026-01-01T00:00:00Z", timedelta(days=365), 604_800_000),  # 7d: weeks from Monday
    ("2026-01-02T00:00:00Z", timedelta(days=364), 2_592_000_000),  # 30d: calendar months
    ("2026-02-01T00:00:00Z", timedelta(days=300), 31_536_000_000),  # 1y
]
ZONES = ["Europe/Zurich", "Asia/Kathmandu", "America/New_York", "Asia/Kolkata"]


def _panel_sql(panel: int) -> str:
    dashboard = json.loads((DASHBOARDS / "roomtemp-postgres.json").read_text())
    [p] = [p for p in dashboard["panels"] if p["id"] == panel]
    assert (p["maxDataPoints"], p["interval"]) == (MAX_DATA_POINTS, "1m")  # what Grafana uses
    return str(p["targets"][0]["rawSql"])


def _run(
    db: psycopg.Connection[Any], sql: str, start: datetime, end: datetime, ms: int, **extra: str
) -> list[tuple[Any, ...]]:
    values = {
        "__timeFrom()": f"'{start.strftime('%Y-%m-%dT%H:%M:%SZ')}'",
        "__timeTo()": f"'{end.strftime('%Y-%m-%dT%H:%M:%SZ')}'",
        "__interval_ms": str(ms),
        "building": "hq",
        "room": "r1",
        "unit": "celsius",
        "sensor": "*",
        "default_time_zone": "UTC",
        **extra,
    }
    values |= hidden_values(db, values)
    for name in sorted(values, key=len, reverse=True):
        sql = sql.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    assert "$" not in sql
    return db.execute(sql).fetchall()


def _close(got: Any, want: float | None) -> bool:
    if want is None:
        return got is None
    return got is not None and abs(float(got) - want) <= TOL


def _api(client: TestClient, path: str, start: datetime, end: datetime, ms: int) -> Any:
    params = {
        "mode": "auto",
        "from": start.isoformat(),
        "to": end.isoformat(),
        "step": _interval_text(ms),
        "window": "15m",
        "unit": "celsius",
    }
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _report_count(client: TestClient, body: dict[str, Any], room: str) -> int:
    report = client.get("/v1/buildings/hq/report", params={"from": body["from"], "to": body["to"]})
    assert report.status_code == 200, report.text
    [row] = [r for r in report.json()["rooms"] if r["room"] == room]
    return int(row["count"])


@pytest.fixture
def data(db: psycopg.Connection[Any], database_url: str) -> bucket_data.Data:
    return bucket_data.write(db, database_url)


@pytest.mark.parametrize("zone", ZONES)
def test_room_series_equals_the_api_at_every_zoom(
    client_factory: ClientFactory, db: psycopg.Connection[Any], data: bucket_data.Data, zone: str
) -> None:
    # Kathmandu as the building's own zone; the others as the service's default, which the
    # dashboard's default_time_zone constant must then name.
    own = zone in ("Asia/Kathmandu", "America/New_York")
    db.execute("UPDATE building SET time_zone = %s", (zone if own else None,))
    client = client_factory(default_time_zone="UTC" if own else zone)
    variable = "UTC" if own else zone
    sql = _panel_sql(ROOM)
    counted = 0
    for frm, span, fixed_ms in VIEWS:
        start = _utc(frm)
        end = start + span
        ms = fixed_ms or _grafana_ms(span)
        rows = _run(db, sql, start, end, ms, default_time_zone=variable)
        body = _api(client, "/v1/buildings/hq/rooms/r1/averages", start, end, ms)
        points = body["points"]
        where = (zone, frm, span, ms)
        assert body.get("mode", "rolling") == ("buckets" if ms > 900_000 else "rolling"), where
        assert len(rows) == len(points) > 0, (where, len(rows), len(points))
        for (t, mean, low, high, count, sensors), p in zip(rows, points, strict=True):
            assert t == datetime.fromisoformat(p["t"]), (where, t, p)
            assert (count, sensors) == (p["count"], p["sensors"]), (where, p)
            for got, want in ((mean, p["mean"]), (low, p["min"]), (high, p["max"])):
                assert _close(got, want), (where, p, got, want)
        if ms > 900_000:
            # Every capture of the covered range counts once: the period report's count.
            assert sum(r[4] for r in rows) == _report_count(client, body, "r1"), where
            counted += 1
    assert counted == 9


@pytest.mark.parametrize("zone", ["Europe/Zurich", "Asia/Kathmandu"])
def test_sensor_series_equals_the_api_at_every_zoom(
    client: TestClient, db: psycopg.Connection[Any], data: bucket_data.Data, zone: str
) -> None:
    db.execute("UPDATE building SET time_zone = %s", (zone,))
    sql = _panel_sql(SENSOR)
    for frm, span, fixed_ms in VIEWS:
        start = _utc(frm)
        end = start + span
        ms = fixed_ms or _grafana_ms(span)
        rows = _run(db, sql, start, end, ms)
        assert {r[1] for r in rows} == set(SENSORS)
        for key in SENSORS:
            body = _api(client, f"/v1/sensors/{key}/averages", start, end, ms)
            mine = [(t, mean) for t, metric, mean in rows if metric == key]
            assert len(mine) == len(body["points"]) > 0, (zone, frm, key)
            for (t, mean), p in zip(mine, body["points"], strict=True):
                assert t == datetime.fromisoformat(p["t"]), (zone, frm, key, p)
                assert _close(mean, p["mean"]), (zone, frm, key, p, mean)
        chosen = _run(db, sql, start, end, ms, sensor="b")
        assert {r[1] for r in chosen} == {"b"}


def test_year_view_counts_every_capture_of_the_room(
    client: TestClient, db: psycopg.Connection[Any], data: bucket_data.Data
) -> None:
    """Zoomed out to a year, Grafana asks for 12h: every capture of r1 counts, once."""
    db.execute("UPDATE building SET time_zone = 'Europe/Zurich'")
    start, end = bucket_data.YEAR
    rows = _run(db, _panel_sql(ROOM), start, end, _grafana_ms(end - start))
    assert len(rows) == 2 * 365 + 1  # whole local half-days covering the UTC year
    seeded = sum(
        1
        for s in data.values()
        for t in s.captures
        if s.room_at(t) == "r1" and rows[0][0] <= t < rows[-1][0] + timedelta(hours=12)
    )
    assert sum(r[4] for r in rows) == seeded > 1000


# Zones whose clocks change at midnight (a day starting at 01:00, or going back over it), by
# half an hour, or with quarter-hour offsets: the edges of every rung equal the API's.
ODD_ZONES = [
    "Europe/Zurich",
    "America/Santiago",
    "Africa/Cairo",
    "America/Havana",
    "Australia/Lord_Howe",
    "Australia/Eucla",
    "Pacific/Chatham",
    "Asia/Kathmandu",
]
RUNGS = [1_200_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 14_400_000, 21_600_000]
RUNGS += [28_800_000, 43_200_000, 86_400_000, 604_800_000, 2_592_000_000, 31_536_000_000]


@pytest.mark.parametrize("zone", ODD_ZONES)
def test_bucket_edges_equal_the_api_in_every_kind_of_zone(
    client: TestClient, db: psycopg.Connection[Any], zone: str
) -> None:
    row = db.execute(
        "INSERT INTO building (key, name, time_zone) VALUES ('hq', '', %s) RETURNING id", (zone,)
    ).fetchone()
    assert row is not None
    db.execute("INSERT INTO room (building_id, key, name) VALUES (%s, 'r1', '')", (row[0],))
    sql = _panel_sql(ROOM)
    for ms in RUNGS:
        # Around the year's clock changes (both hemispheres), 90 days or the whole year.
        days = 365 if ms >= 86_400_000 else 90
        for frm in ("2026-03-01T07:07:07Z", "2026-08-20T23:59:59Z") if days < 365 else ("",):
            start = _utc(frm) if frm else datetime(2026, 1, 1, 3, 33, tzinfo=UTC)
            end = start + timedelta(days=days)
            rows = _run(db, sql, start, end, ms)
            body = _api(client, "/v1/buildings/hq/rooms/r1/averages", start, end, ms)
            assert body["time_zone"] == zone
            got = [r[0] for r in rows]
            assert got == [datetime.fromisoformat(p["t"]) for p in body["points"]], (ms, frm)
