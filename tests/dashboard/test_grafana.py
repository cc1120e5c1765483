"""The Grafana dashboards (helm/roomtemp/dashboards/) against the real API and database.

Infinity (roomtemp.json): every query's URL, rendered as Grafana renders it, answers 200, its
root selector and columns exist, times are RFC 3339 in ascending order and numbers are JSON
numbers. PostgreSQL (roomtemp-postgres.json): the SQL, with Grafana's macros expanded, returns
the same numbers as the API.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.conftest import NOW
from tests.dashboard.grafana_variables import hidden_values
from tests.factories import capture

# The one copy: inside the chart, because Helm reads files inside the chart only.
DASHBOARDS = Path(__file__).resolve().parents[2] / "helm" / "roomtemp" / "dashboards"
# hq/3.14's default sensor (building/room captures): its key is "{building}/{room}/{type}".
VARIABLES = {
    "building": "hq",
    "room": "3.14",
    "sensor": "hq/3.14/temperature",
    "silent": "60",
    "default_time_zone": "UTC",
}
UNITS = ("celsius", "fahrenheit", "kelvin")
MAX_DATA_POINTS = 500


def grafana_interval(range_ms: int, min_interval_ms: int = 60_000) -> str:
    """Grafana's $__interval: range / max data points, rounded as kbn.roundInterval, ≥ min."""
    raw = range_ms / MAX_DATA_POINTS
    table = [  # (below, rounded), the part of Grafana's table at and above one minute
        (90_000, 60_000), (210_000, 120_000), (450_000, 300_000), (750_000, 600_000),
        (1_050_000, 900_000), (1_500_000, 1_200_000), (2_700_000, 1_800_000),
        (5_400_000, 3_600_000), (9_000_000, 7_200_000), (16_200_000, 10_800_000),
        (32_400_000, 21_600_000), (86_400_000, 43_200_000), (604_800_000, 86_400_000),
        (1_814_400_000, 604_800_000), (3_628_800_000, 2_592_000_000),
    ]  # fmt: skip
    rounded = next((r for below, r in table if raw < below), 31_536_000_000)
    seconds = max(rounded, min_interval_ms) // 1000
    for suffix, size in (("y", 31_536_000), ("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{suffix}"
    return f"{seconds}s"


def _iso_ms(ts: datetime) -> str:
    """${__from:date:iso}: milliseconds and Z, as Grafana (moment.toISOString) writes it."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    items = []
    for minutes in range(2, 180, 7):  # hq/3.14: every 7 minutes for 3 hours, with a gap
        if 60 <= minutes < 100:
            continue
        value = 20.0 + 3 * math.sin(minutes / 20)
        items.append(capture(round(value, 3), ts=NOW - timedelta(minutes=minutes)))
    items += [
        capture(18.5, room="lobby", ts=NOW - timedelta(minutes=4)),
        capture(19.5, room="lobby", ts=NOW - timedelta(minutes=9)),
        capture(22.0, room="empty", ts=NOW - timedelta(hours=5)),
    ]
    # Two registered sensors in hq/3.14 beside its default one: zb-wall sends every 14 minutes
    # (on the same instants as the default sensor every other time), zb-quiet went silent 2 h ago.
    for key in ("zb-wall", "zb-quiet"):
        body = {"key": key, "sensor_type": "temperature", "building": "hq", "room": "3.14"}
        assert client.post("/v1/sensors", json=body).status_code == 201
    for minutes in range(2, 180, 14):
        if not 60 <= minutes < 100:
            ts = (NOW - timedelta(minutes=minutes)).isoformat()
            value = round(21.0 + math.cos(minutes / 15), 3)
            items.append({"sensor": "zb-wall", "value": value, "unit": "celsius", "ts": ts})
    ts = (NOW - timedelta(hours=2)).isoformat()
    items.append({"sensor": "zb-quiet", "value": 19.0, "unit": "celsius", "ts": ts, "battery": 6})
    assert client.post("/v1/captures", json=items).status_code == 201
    return client


def _infinity_queries(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    queries = [t for p in dashboard["panels"] for t in p["targets"]]
    queries += [
        v["query"]["infinityQuery"] for v in dashboard["templating"]["list"] if v["type"] == "query"
    ]
    return queries


def _render(text: str, values: dict[str, str]) -> str:
    for name in sorted(values, key=len, reverse=True):
        text = text.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    assert "$" not in text, f"a Grafana variable the test does not know: {text}"
    return text


def _report_count(client: TestClient, series: dict[str, Any]) -> int:
    """Captures of hq/3.14 in the range a bucket series covers, from the period report."""
    params = {"from": series["from"], "to": series["to"]}
    report = client.get("/v1/buildings/hq/report", params=params)
    assert report.status_code == 200, report.text
    [room] = [r for r in report.json()["rooms"] if r["room"] == "3.14"]
    return int(room["count"])


def _check_column(value: Any, kind: str, where: str) -> None:
    if kind == "timestamp":
        # RFC 3339 with Z (rolling windows) or the zone's offset (buckets): Infinity reads both.
        assert value is None or isinstance(value, str), where
        if value is not None:
            assert datetime.fromisoformat(value).tzinfo is not None, where
    elif kind == "number":  # a JSON number (or null), never a string
        assert value is None or (isinstance(value, int | float) and not isinstance(value, bool)), (
            where
        )
    else:
        assert isinstance(value, str), where


@pytest.mark.parametrize(
    "span",
    [
        timedelta(hours=1),
        timedelta(hours=6),
        timedelta(days=1),
        timedelta(days=7),
        timedelta(days=30),
        timedelta(days=365),
    ],
    ids=lambda s: f"{s.days}d{s.seconds // 3600}h",
)
def test_infinity_queries_match_the_api(seeded: TestClient, span: timedelta) -> None:
    dashboard = json.loads((DASHBOARDS / "roomtemp.json").read_text())
    queries = _infinity_queries(dashboard)
    assert len(queries) == 9
    start = NOW - span
    for unit in UNITS:
        values = {
            **VARIABLES,
            "unit": unit,
            "__from:date:iso": _iso_ms(start),
            "__to:date:iso": _iso_ms(NOW),
            "__interval": grafana_interval(int(span.total_seconds() * 1000)),
        }
        for q in queries:
            assert (q["type"], q["source"], q["parser"]) == ("json", "url", "backend")
            params = {p["key"]: _render(p["value"], values) for p in q["url_options"]["params"]}
            url = _render(q["url"], values) + "?" + urlencode(params)
            resp = seeded.get(url)
            assert resp.status_code == 200, (url, resp.text)
            body = resp.json()
            rows = body[q["root_selector"]] if q["root_selector"] else [body]
            assert rows, url
            for row in rows:
                for col in q["columns"]:
                    assert col["selector"] in row, (url, col)
                    _check_column(row[col["selector"]], col["type"], f"{url} {col}")
            times = [c["selector"] for c in q["columns"] if c["type"] == "timestamp"]
            if q.get("format") == "timeseries":
                assert times == ["t"]
                stamps = [datetime.fromisoformat(r["t"]) for r in rows]
                assert stamps == sorted(stamps)
                assert len(set(stamps)) == len(stamps)
                if q["url"].endswith("/averages") and "unit" in params:
                    assert body["unit"] == unit
                if params.get("mode") == "auto" and span > timedelta(days=1):
                    # Zoomed out, the step outgrows the window: buckets, and every capture counts.
                    assert body["mode"] == "buckets", url
                    if "/rooms/" in q["url"]:
                        assert sum(r["count"] for r in rows) == _report_count(seeded, body)


def test_infinity_series_panel_asks_for_at_least_one_minute() -> None:
    dashboard = json.loads((DASHBOARDS / "roomtemp.json").read_text())
    for panel in dashboard["panels"]:
        for q in panel["targets"]:
            params = {p["key"]: p["value"] for p in q["url_options"]["params"]}
            if "step" in params:
                assert params["step"] == "${__interval}"
                assert panel["interval"] == "1m"  # Grafana's min interval: the API's minimum step
    assert grafana_interval(3_600_000) == "1m"  # 1 h / 500 points would be 7.2 s
    assert grafana_interval(7 * 86_400_000) == "20m"  # 1209.6 s rounds to 20 min


def _sql_values(start: datetime, end: datetime, interval_ms: int, unit: str) -> dict[str, str]:
    return {
        **{k: v for k, v in VARIABLES.items()},
        "unit": unit,
        "__timeFrom()": f"'{start.strftime('%Y-%m-%dT%H:%M:%SZ')}'",
        "__timeTo()": f"'{end.strftime('%Y-%m-%dT%H:%M:%SZ')}'",
        "__interval_ms": str(interval_ms),
    }


def _targets(name: str) -> dict[int, str]:
    dashboard = json.loads((DASHBOARDS / name).read_text())
    return {p["id"]: p["targets"][0]["rawSql"] for p in dashboard["panels"]}


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize(
    ("span", "interval_ms"),
    [(timedelta(hours=3), 60_000), (timedelta(hours=6), 300_000), (timedelta(hours=3), 1000)],
)
def test_postgres_series_equals_the_api(
    seeded: TestClient,
    db: psycopg.Connection[Any],
    unit: str,
    span: timedelta,
    interval_ms: int,
) -> None:
    start = NOW - span - timedelta(seconds=30)  # not on a step boundary
    values = _sql_values(start, NOW, interval_ms, unit)
    sql = _render(_targets("roomtemp-postgres.json")[2], values | hidden_values(db, values))
    rows = db.execute(sql).fetchall()
    step = f"{max(interval_ms, 60_000) // 60_000}m"  # the SQL clamps to one minute, as the API
    api = seeded.get(
        "/v1/buildings/hq/rooms/3.14/averages",
        params={"from": start.isoformat(), "to": NOW.isoformat(), "step": step, "unit": unit},
    ).json()["points"]
    assert len(rows) == len(api) > 0
    assert any(p["count"] == 0 for p in api)
    assert any(p["count"] > 0 for p in api)
    for (t, mean, low, high, count, sensors), p in zip(rows, api, strict=True):
        assert t == datetime.fromisoformat(p["t"])
        assert (count, sensors) == (p["count"], p["sensors"])
        for got, want in ((mean, p["mean"]), (low, p["min"]), (high, p["max"])):
            assert (got is None and want is None) or float(got) == pytest.approx(want, abs=1e-9)


@pytest.mark.parametrize("unit", UNITS)
def test_postgres_rooms_table_equals_the_api(
    seeded: TestClient, db: psycopg.Connection[Any], unit: str
) -> None:
    sql = _render(_targets("roomtemp-postgres.json")[1], _sql_values(NOW, NOW, 60_000, unit))
    rows = db.execute(sql).fetchall()
    api = seeded.get("/v1/buildings/hq/averages", params={"at": NOW.isoformat(), "unit": unit})
    rooms = api.json()["rooms"]
    assert [r[0] for r in rows] == [r["room"] for r in rooms] == ["3.14", "empty", "lobby"]
    for (_room, mean, low, high, count, sensors, last_ts), want in zip(rows, rooms, strict=True):
        assert (count, sensors) == (want["count"], want["sensors"])
        assert last_ts == datetime.fromisoformat(want["last_ts"])
        for got, exp in ((mean, want["mean"]), (low, want["min"]), (high, want["max"])):
            assert (got is None and exp is None) or float(got) == pytest.approx(exp, abs=1e-9)


def test_postgres_variables_list_the_registry(
    seeded: TestClient, db: psycopg.Connection[Any]
) -> None:
    dashboard = json.loads((DASHBOARDS / "roomtemp-postgres.json").read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    buildings = db.execute(_render(variables["building"]["query"], {})).fetchall()
    rooms = db.execute(_render(variables["room"]["query"], VARIABLES)).fetchall()
    assert [b[0] for b in buildings] == ["hq"]
    assert [r[0] for r in rooms] == ["3.14", "empty", "lobby"]
    # Hidden: the room's id, which the room's series names its captures by (Citus routes on it).
    (room_id,) = db.execute(
        "SELECT r.id FROM room r JOIN building b ON b.id = r.building_id"
        " WHERE b.key = 'hq' AND r.key = '3.14'"
    ).fetchone() or (None,)
    assert hidden_values(db, VARIABLES) == {"room_id": str(room_id)}
    assert variables["datasource"]["query"] == "grafana-postgresql-datasource"


@pytest.mark.parametrize("name", ["roomtemp.json", "roomtemp-postgres.json"])
def test_dashboards_are_importable(name: str) -> None:
    """Plain dashboard JSON: no id, no fixed data source uid, a stable uid, unique panel ids."""
    dashboard = json.loads((DASHBOARDS / name).read_text())
    assert "id" not in dashboard
    assert re.fullmatch(r"[a-z0-9-]{1,40}", dashboard["uid"])
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    text = json.dumps(dashboard)
    uids = set(re.findall(r'"uid": "([^"]*)"', text)) - {dashboard["uid"]}
    assert uids == {"${datasource}"}  # chosen at import time or by the sidecar's data source


@pytest.mark.parametrize("key", ["hq/3.14/temperature", "zb-wall", "zb-quiet"])
def test_postgres_per_sensor_series_equals_the_api(
    seeded: TestClient, db: psycopg.Connection[Any], key: str
) -> None:
    start = NOW - timedelta(hours=3, seconds=30)
    values = {**_sql_values(start, NOW, 60_000, "celsius"), "sensor": key}
    rows = db.execute(_render(_targets("roomtemp-postgres.json")[3], values)).fetchall()
    api = seeded.get(
        f"/v1/sensors/{key}/averages",
        params={
            "from": start.isoformat(),
            "to": NOW.isoformat(),
            "step": "1m",
            "window": "15m",
            "unit": "celsius",
        },
    ).json()["points"]
    assert {r[1] for r in rows} == {key}
    assert len(rows) == len(api) > 0
    assert any(p["count"] > 0 for p in api)
    for (t, _key, mean), p in zip(rows, api, strict=True):
        assert t == datetime.fromisoformat(p["t"])
        assert (mean is None and p["mean"] is None) or float(mean) == pytest.approx(p["mean"])


@pytest.mark.parametrize("minutes", ["60", "150"])
def test_postgres_silent_sensors_equal_the_api(
    seeded: TestClient, db: psycopg.Connection[Any], minutes: str
) -> None:
    values = {**_sql_values(NOW, NOW, 60_000, "celsius"), "silent": minutes}
    rows = db.execute(_render(_targets("roomtemp-postgres.json")[4], values)).fetchall()
    api = seeded.get("/v1/sensors", params={"building": "hq", "silent_for": f"{minutes}m"})
    items = sorted(api.json()["items"], key=lambda s: s["key"])
    assert sorted(r[0] for r in rows) == [s["key"] for s in items]
    assert ("zb-quiet" in [s["key"] for s in items]) == (minutes == "60")  # silent for 2 h
    for sensor, room, sensor_type, last, battery, signal, status_at in sorted(rows):
        want = next(s for s in items if s["key"] == sensor)
        assert (room, sensor_type, battery, signal) == (
            want["room"],
            want["sensor_type"],
            want["battery"],
            want["signal"],
        )
        assert last == datetime.fromisoformat(want["last_capture_at"])
        assert status_at == (want["status_at"] and datetime.fromisoformat(want["status_at"]))
