"""The PostgreSQL dashboard's series panels over a year whose raw captures were mostly dropped
(issue 23): the bucket points read the 1-hour rollups before the raw horizon and equal, to 1e-9,
what they showed before the drop (and the API's)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from tests.average.test_buckets_long_term import YEAR, _maintain
from tests.average.test_buckets_long_term import seeded as seeded  # the fixture
from tests.conftest import ClientFactory
from tests.dashboard.test_grafana_buckets import ROOM, SENSOR, _api, _close, _panel_sql, _run

DAY_MS = 86_400_000


def _points(db: psycopg.Connection[Any], panel: int, **extra: str) -> list[tuple[Any, ...]]:
    return _run(db, _panel_sql(panel), YEAR[0], YEAR[1], DAY_MS, room="a", **extra)


def test_postgres_panels_read_the_rollups_before_the_raw_horizon(
    db: psycopg.Connection[Any],
    database_url: str,
    client_factory: ClientFactory,
    seeded: dict[str, Any],
) -> None:
    room_before = _points(db, ROOM)
    sensor_before = _points(db, SENSOR)
    assert len(room_before) >= 365
    assert sum(r[4] for r in room_before) > 8000

    _maintain(database_url, 90, {})
    room_after = _points(db, ROOM)
    sensor_after = _points(db, SENSOR)
    assert [(r[0], r[4], r[5]) for r in room_after] == [(r[0], r[4], r[5]) for r in room_before]
    for got, want in zip(room_after, room_before, strict=True):
        for i in (1, 2, 3):
            assert _close(got[i], want[i]), (got, want)
    assert [r[:2] for r in sensor_after] == [r[:2] for r in sensor_before]
    for got, want in zip(sensor_after, sensor_before, strict=True):
        assert _close(got[2], want[2]), (got, want)

    # And the API (mode=auto, 1-day buckets from the 1-hour rollups) agrees point for point.
    body = _api(client_factory(), "/v1/buildings/hq/rooms/a/averages", *YEAR, DAY_MS)
    assert body["resolution"] == "1h"
    by_t = {r[0]: r for r in room_after}
    assert len(body["points"]) == len(by_t)
    for p in body["points"]:
        row = by_t[datetime.fromisoformat(p["t"])]
        assert row[4] == p["count"]
        assert _close(row[1], p["mean"])
