"""Long-term aggregates (issue 23): a year and a month of hourly captures survives the raw
retention; the 1-year bucket series is the same, exactly, before and after the raw captures are
dropped (and equals tests/reference.py), answered from the rollups and saying so; steps finer
than what is kept are refused with the finest one; rolling windows there are refused."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.partitions import service as partitions
from tests import reference
from tests.average.test_buckets import ref_edges
from tests.conftest import NOW, ClientFactory
from tests.factories import capture

TOL = 1e-9
RAW_FROM = datetime(2026, 8, 1, tzinfo=UTC)  # the month holding NOW - 90 days
FIRST = datetime(2025, 10, 20, tzinfo=UTC)
YEAR = (datetime(2025, 11, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))
ROOMS = ("a", "b")


def _captures() -> dict[str, dict[datetime, float]]:
    """Per room, one capture an hour at a random minute (a few hours missing), in kelvin."""
    rng = random.Random(23)
    out: dict[str, dict[datetime, float]] = {}
    hours = int((NOW - FIRST) / timedelta(hours=1))
    for room in ROOMS:
        caps = {}
        for h in range(hours):
            if rng.random() < 0.03:
                continue  # a gap: the previous value carries across the hour
            t = FIRST + timedelta(hours=h, minutes=rng.randrange(60), seconds=rng.randrange(60))
            caps[t] = round(290 + rng.uniform(-4, 6), 3)
        out[room] = caps
    return out


def _maintain(url: str, retention_days: int | None, levels: dict[str, int | None]) -> None:
    async def go() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await partitions.maintain(
                    conn,
                    NOW,
                    interval="month",
                    ahead=0,
                    retention_days=retention_days,
                    rollup_retention_days=levels,
                )
        finally:
            await engine.dispose()

    asyncio.run(go())


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _series(
    client: Any,
    room: str,
    step: str,
    tz: str,
    *,
    status: int = 200,
    span: tuple[datetime, datetime] = YEAR,
) -> dict[str, Any]:
    r = client.get(
        f"/v1/buildings/hq/rooms/{room}/averages",
        params={
            "mode": "buckets",
            "from": _iso(span[0]),
            "to": _iso(span[1]),
            "step": step,
            "tz": tz,
            "unit": "kelvin",
        },
    )
    assert r.status_code == status, r.text
    return r.json()  # type: ignore[no-any-return]


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= TOL * max(1.0, abs(b))


def _check(body: dict[str, Any], caps: dict[datetime, float], room: str, edges: list[datetime]):  # type: ignore[no-untyped-def]
    """The answer equals the reference computed from every capture (dropped ones included)."""
    sensor = reference.Sensor(caps, [(None, room)])
    expected = reference.pooled_buckets({"s": sensor}, room, edges)
    points = body["points"]
    assert len(points) == len(expected) == len(edges) - 1
    for p, e, t in zip(points, expected, edges, strict=False):
        assert datetime.fromisoformat(p["t"]) == t
        assert (p["count"], p["sensors"]) == (e.count, e.sensors), (t, p, e)
        for name in ("mean", "min", "max", "time_weighted_mean"):
            assert _close(p[name], getattr(e, name)), (t, name, p[name], getattr(e, name))


@pytest.fixture
def seeded(
    db: psycopg.Connection[Any], database_url: str, client_factory: ClientFactory
) -> dict[str, dict[datetime, float]]:
    from tests.partitions.conftest import partitions as names

    for name in names(db):
        if name != "capture_default":
            db.execute(f'DROP TABLE "{name}"')
    data = _captures()
    client = client_factory()
    for room, caps in data.items():
        body = [capture(v, room=room, ts=t, unit="kelvin") for t, v in caps.items()]
        r = client.post("/v1/captures", json=body)
        assert r.status_code == 201, r.text
    _maintain(database_url, None, {})  # monthly partitions for every month of captures
    return data


def test_a_year_of_hourly_data_survives_raw_retention(
    db: psycopg.Connection[Any],
    database_url: str,
    client_factory: ClientFactory,
    seeded: dict[str, dict[datetime, float]],
) -> None:
    client = client_factory()
    zurich = ZoneInfo("Europe/Zurich")
    cases = [("1d", "Europe/Zurich", zurich), ("1h", "UTC", ZoneInfo("UTC"))]
    before = {
        (room, step): _series(client, room, step, tz) for room in ROOMS for step, tz, _ in cases
    }
    for (room, step), body in before.items():
        assert body["resolution"] == "raw"
        assert body["raw_from"] is None
        zone = next(z for s, _, z in cases if s == step)
        _check(body, seeded[room], room, ref_edges(YEAR[0], YEAR[1], step, zone))

    _maintain(database_url, 90, {"15m": 365, "1h": None, "1d": None})
    first = db.execute("SELECT min(ts) FROM capture").fetchone()
    assert first is not None
    assert first[0] >= RAW_FROM

    for (room, step), body in before.items():
        tz = next(t for s, t, _ in cases if s == step)
        after = _series(client, room, step, tz)
        assert after["resolution"] == "1h"
        assert after["raw_from"] == "2026-08-01T00:00:00Z"
        assert after["points"] == body["points"]  # the same answer, to the last bit
        zone = next(z for s, _, z in cases if s == step)
        _check(after, seeded[room], room, ref_edges(YEAR[0], YEAR[1], step, zone))

    # Finer than the 1-hour pieces: refused with the finest step kept; so is an hour grid off
    # the UTC hour (+05:30) and the rolling mode.
    day = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
    err = _series(client, "a", "15m", "UTC", status=422, span=day)["error"]
    [detail] = err["details"]
    assert detail["code"] == "resolution_unavailable"
    assert detail["field"] == "step"
    assert "finest step is 1 hour" in detail["message"]
    assert "2026-08-01T00:00:00+00:00" in detail["message"]
    _series(client, "a", "1h", "Asia/Kolkata", status=422, span=day)
    r = client.get(
        "/v1/buildings/hq/rooms/a/averages",
        params={"from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z", "step": "1h"},
    )
    assert r.status_code == 422, r.text
    assert "a rolling window needs raw captures" in r.json()["error"]["details"][0]["message"]
    r = client.get("/v1/buildings/hq/rooms/a/average", params={"at": "2026-03-01T00:00:00Z"})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "at"
    # mode=auto (the dashboards): buckets of at least 1 hour, from the rollups, over such a
    # range; rolling windows where raw captures are kept.
    for path in ("/v1/buildings/hq/rooms/a/averages", "/v1/sensors/hq/a/temperature/averages"):
        r = client.get(path, params={"mode": "auto", "step": "5m", "window": "15m", **{
            "from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z"}})  # fmt: skip
        assert r.status_code == 200, r.text
        auto = r.json()
        assert (auto["mode"], auto["step"], auto["resolution"]) == ("buckets", "1h", "1h")
        assert len(auto["points"]) == 24
    r = client.get("/v1/buildings/hq/rooms/a/averages", params={"mode": "auto", "step": "5m", **{
        "from": "2026-10-01T00:00:00Z", "to": "2026-10-02T00:00:00Z"}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert "window" in r.json()
    # Where raw captures are kept the rolling mode answers as before.
    r = client.get("/v1/buildings/hq/rooms/a/average", params={"at": "2026-10-01T00:00:00Z"})
    assert r.status_code == 200, r.text

    # The 1-hour pieces dropped too: 1-day buckets on UTC days still answer exactly, from the
    # 1-day pieces; local days (Europe/Zurich, edges at 22:00/23:00 UTC) are refused.
    _maintain(database_url, 90, {"15m": 365, "1h": 100, "1d": None})
    assert _series(client, "a", "1d", "Europe/Zurich", status=422)["error"]["details"][0][
        "message"
    ].startswith("raw captures are kept from 2026-08-01T00:00:00+00:00 and 1-hour rollups")
    for room in ROOMS:
        body = _series(client, room, "1d", "UTC")
        assert body["resolution"] == "1d"
        _check(body, seeded[room], room, ref_edges(YEAR[0], YEAR[1], "1d", ZoneInfo("UTC")))
    # The building series of both rooms, too.
    r = client.get(
        "/v1/buildings/hq/averages",
        params={
            "mode": "buckets",
            "from": _iso(YEAR[0]),
            "to": _iso(YEAR[1]),
            "step": "1w",
            "tz": "UTC",
            "unit": "kelvin",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["resolution"] == "1d"
