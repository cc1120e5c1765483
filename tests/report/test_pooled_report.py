"""Period reports of rooms with several sensors against tests/reference.py (pooled_report), on
the random rows of tests/pooled_data.py, from the raw captures: periods on capture instants,
on the moves, on hour edges and across everything."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from roomtemp.report import queries as report_queries
from tests import pooled_data, reference
from tests.conftest import NOW, ClientFactory

START = NOW - timedelta(hours=6)
MOVE, MOVE_2 = pooled_data.moves(START)
LOW, HIGH = 20.0, 24.0


@pytest.fixture
def data(db: psycopg.Connection[Any], database_url: str) -> Iterator[pooled_data.Data]:
    written = pooled_data.write(db, START)
    # The rollups count comfort seconds for the bounds the report asks: it reads their pieces.
    # The bounds live on the sensor type, which outlives the test: put them back afterwards.
    update = "UPDATE sensor_type SET comfort_low = %s, comfort_high = %s WHERE key = 'temperature'"
    old = db.execute(
        "SELECT comfort_low, comfort_high FROM sensor_type WHERE key = 'temperature'"
    ).fetchone()
    assert old is not None
    db.execute(update, (LOW, HIGH))
    try:
        pooled_data.rebuild_rollups(
            database_url, START - timedelta(days=2), NOW + timedelta(days=2)
        )
        yield written
    finally:
        db.execute(update, old)


def _same(key: str, actual: Any, expected: Any) -> bool:
    # Instants go through Unix seconds in double precision in SQL (db/pieces.py): to about
    # 0.2 µs at today's dates. Durations come from interval differences: exact. Values: 1e-9.
    if isinstance(expected, datetime):
        return (
            actual is not None
            and abs((datetime.fromisoformat(actual) - expected).total_seconds()) <= 1e-6
        )
    if isinstance(expected, float):
        return actual is not None and abs(actual - expected) <= 1e-9
    return bool(actual == expected)


def periods(data: pooled_data.Data) -> list[tuple[datetime, datetime]]:
    rng = random.Random(3)
    stamps = sorted({t for s in data.values() for t in s.captures})
    picks = rng.sample(stamps, 6)
    hour = timedelta(hours=1)
    return [
        (START - hour, NOW + hour),  # everything, carried values, no captures at the edges
        (START - 30 * hour, NOW + 20 * hour),  # day buckets in the middle
        (MOVE, MOVE_2),
        (MOVE - timedelta(minutes=20), MOVE + timedelta(minutes=20)),
        (MOVE_2 - timedelta(seconds=1), NOW),
        (START + hour, START + 5 * hour),  # hour edges
    ] + [(a, a + timedelta(minutes=rng.choice([7, 45, 130]))) for a in picks]


@pytest.mark.parametrize("rollups", [False, True])
def test_report_pools_sensors(
    client_factory: ClientFactory,
    db: psycopg.Connection[Any],
    data: pooled_data.Data,
    rollups: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From the raw captures, and from the rollup pieces (raw edges only): the raw statement is
    made to fail in that run, so it proves the pieces answered."""
    client = client_factory(rollup_reads=rollups)
    if rollups:
        real = report_queries.select_room_periods

        async def refuse(*args: Any, **kwargs: Any) -> Any:
            if not kwargs.get("rollups"):
                raise AssertionError("read the raw captures")
            return await real(*args, **kwargs)

        monkeypatch.setattr(report_queries, "select_room_periods", refuse)
    row = db.execute("SELECT unit FROM sensor_type WHERE key = 'temperature'").fetchone()
    assert row is not None
    several = 0
    for start, end in periods(data):
        r = client.get(
            "/v1/buildings/hq/report",
            params={
                "from": start.isoformat(),
                "to": end.isoformat(),
                "unit": row[0],
                "comfort_low": LOW,
                "comfort_high": HIGH,
            },
        )
        assert r.status_code == 200, r.text
        rooms = r.json()["rooms"]
        assert [x["room"] for x in rooms] == pooled_data.ROOMS
        for got in rooms:
            expected = reference.pooled_report(data, got["room"], start, end, LOW, HIGH)
            for key, value in expected.items():
                assert _same(key, got[key], value), (start, end, got["room"], key, got[key], value)
            several += got["sensors"] > 1
    assert several >= 5
