"""Long-term aggregates: raw captures and each rollup level dropped by their own retention, and
no recomputation touching a bucket that holds dropped time (issue 23)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from roomtemp.partitions import service
from roomtemp.rollup import service as rollups
from tests.conftest import NOW, ClientFactory
from tests.factories import capture
from tests.partitions.test_partitions import _assert_rollups_exact, _rollup_rows

RAW_FROM = datetime(2026, 8, 1, tzinfo=UTC)  # the month holding NOW - 90 days (Aug 24)


def _run(url: str, work: Callable[[AsyncConnection], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _maintain(
    url: str, now: datetime, rollup_days: dict[str, int | None], retention_days: int = 90
) -> service.MaintainReport:
    return _run(  # type: ignore[no-any-return]
        url,
        lambda conn: service.maintain(
            conn,
            now,
            interval="month",
            ahead=0,
            retention_days=retention_days,
            rollup_retention_days=rollup_days,
        ),
    )


def _seed_days(client: Any, days: int) -> None:
    """Two captures a day (06:00 and 18:00) over `days` days before NOW, in two rooms."""
    first = datetime(2026, 11, 22, 6, tzinfo=UTC) - timedelta(days=days)
    body = [
        capture(18 + (n % 9) * 0.5 + k, room=room, ts=first + timedelta(hours=12 * n))
        for n in range(2 * days)
        for k, room in enumerate(("a", "b"))
    ]
    r = client.post("/v1/captures", json=body)
    assert r.status_code == 201, r.text


def _split(rows: list[str], keep: Callable[[datetime], bool], time_at: int) -> list[str]:
    """Rows whose key time (column `time_at` of the row text) passes `keep`."""
    out = []
    for row in rows:
        t = datetime.fromisoformat(row.strip("()").split(",")[time_at].strip('"'))
        if keep(t):
            out.append(row)
    return out


def test_each_level_is_dropped_by_its_own_retention(
    database_url: str, clean_partitions: psycopg.Connection[Any], client_factory: ClientFactory
) -> None:
    db = clean_partitions
    _seed_days(client_factory(), 3 * 365)
    _run(database_url, lambda conn: service.maintain(conn, NOW, interval="month", ahead=0,
                                                     retention_days=None))  # fmt: skip
    _assert_rollups_exact(db)
    before = _rollup_rows(db)
    levels = {"15m": 365, "1h": 730, "1d": None}
    report = _maintain(database_url, NOW, levels)

    h15 = datetime(2025, 11, 22, tzinfo=UTC)  # NOW - 365 days, whole UTC days
    h1h = datetime(2024, 11, 22, tzinfo=UTC)
    assert report.horizons == {"raw": RAW_FROM, "15m": h15, "1h": h1h}
    stored = dict(db.execute("SELECT level, dropped_before FROM retention_horizon").fetchall())
    assert stored == report.horizons
    assert db.execute("SELECT min(ts) FROM capture").fetchone() == (
        datetime(2026, 8, 1, 6, tzinfo=UTC),
    )
    after = _rollup_rows(db)
    # Each level lost exactly its rows keyed before its own horizon; every other row is
    # byte-identical; the 1-day pieces are all there (kept forever).
    # Row text: (bucket/start, sum, ...): the key time is the first column.
    kept_15m = _split(before["capture_rollup_15m"], lambda t: t >= h15, 0)
    kept_1h = _split(before["capture_rollup_1h"], lambda t: t >= h1h, 0)
    assert after["capture_rollup_15m"] == kept_15m
    assert after["capture_rollup_1h"] == kept_1h
    assert after["capture_rollup_1d"] == before["capture_rollup_1d"]
    assert report.expired_rollup_buckets == {
        "15m": len(before["capture_rollup_15m"]) - len(kept_15m),
        "1h": len(before["capture_rollup_1h"]) - len(kept_1h),
    }
    assert report.expired_rollup_buckets["15m"] > 0
    assert report.expired_rollup_buckets["1h"] > 0
    assert len(after["capture_rollup_1d"]) == 2 * 3 * 365

    # Idempotent; a level's horizon only moves forward (a longer retention later keeps what is
    # left and drops nothing).
    again = _maintain(database_url, NOW, {"15m": 1000, "1h": 730, "1d": None})
    assert again.expired_rollup_buckets == {}
    assert again.horizons["15m"] == h15
    assert _rollup_rows(db) == after


def test_a_level_is_never_dropped_where_raw_captures_are_kept(
    database_url: str, clean_partitions: psycopg.Connection[Any], client_factory: ClientFactory
) -> None:
    """With monthly partitions raw captures are kept from the start of the month holding the
    cutoff; a rollup level with the same retention stops there too."""
    db = clean_partitions
    _seed_days(client_factory(), 200)
    report = _maintain(database_url, NOW, {"15m": 90, "1h": 90, "1d": 90})
    assert report.horizons == {"raw": RAW_FROM, "15m": RAW_FROM, "1h": RAW_FROM, "1d": RAW_FROM}
    for table, key in (("capture_rollup_15m", "bucket"), ("capture_rollup_1d", "start")):
        first = db.execute(f"SELECT min({key}) FROM {table}").fetchone()
        assert first is not None
        assert first[0] >= RAW_FROM
    _assert_rollups_exact(db)  # what is left is exactly the captures left


def test_recomputations_leave_buckets_holding_dropped_time(
    database_url: str, clean_partitions: psycopg.Connection[Any], client_factory: ClientFactory
) -> None:
    """After the raw drop, a rebuild over everything (imports, comfort changes), a change to a
    capture at the raw horizon, deletes naming dropped captures and a late capture into the
    dropped range leave every bucket holding dropped time byte-identical; the others stay exact.
    """
    db = clean_partitions
    client = client_factory()
    stamps = [RAW_FROM + timedelta(minutes=m) for m in (-50, -5, 0, 5, 70)]
    body = [capture(20 + n, ts=t) for n, t in enumerate(stamps)]
    assert client.post("/v1/captures", json=body).status_code == 201
    _run(database_url, lambda conn: service.maintain(conn, NOW, interval="month", ahead=0,
                                                     retention_days=None))  # fmt: skip
    _maintain(database_url, NOW, {})
    assert db.execute("SELECT count(*) FROM capture").fetchone() == (3,)

    def frozen() -> dict[str, list[str]]:
        rows = _rollup_rows(db)
        return {
            "capture_rollup_15m": _split(
                rows["capture_rollup_15m"], lambda t: t < RAW_FROM + timedelta(minutes=15), 0
            ),
            "capture_rollup_1h": _split(rows["capture_rollup_1h"], lambda t: t < RAW_FROM, 0),
            "capture_rollup_1d": _split(rows["capture_rollup_1d"], lambda t: t < RAW_FROM, 0),
        }

    kept = frozen()
    # The hour and day before the horizon, and the 15-minute bucket (23:45, 00:00].
    assert [len(v) for v in kept.values()] == [2, 1, 1]

    first, last = stamps[0], stamps[-1]
    _run(database_url, lambda conn: rollups.rebuild(conn, first, last))
    assert frozen() == kept
    # A last-write-wins update of the capture at the horizon: its hour and day are recomputed,
    # the 15-minute bucket ending at the horizon (it also held 23:55) is not.
    r = client.post("/v1/captures", json=capture(30, ts=RAW_FROM))
    assert r.json()["updated"] == 1
    assert frozen() == kept
    hour = db.execute("SELECT count, max FROM capture_rollup_1h WHERE start = %s", [RAW_FROM])
    assert hour.fetchone() == (2, pytest.approx(30 + 273.15))
    # Deletes naming dropped captures (nothing left in raw) forget no frozen bucket.
    row = db.execute("SELECT room_id, sensor_id FROM capture LIMIT 1").fetchone()
    assert row is not None
    room_id, sensor_id = row
    keys = [(room_id, sensor_id, t) for t in stamps[:2]]
    _run(database_url, lambda conn: rollups.captures_removed(conn, keys))
    assert frozen() == kept
    # A late capture into the dropped range is refused at ingest when RETENTION_DAYS is set
    # (as it is wherever maintain drops raw captures).
    strict = client_factory(retention_days=90)
    r = strict.post("/v1/captures", json=capture(40, ts=RAW_FROM - timedelta(minutes=20)))
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["code"] == "beyond_retention"
    assert frozen() == kept
    # One that gets in anyway (ingest's clock-skew margin around a maintenance run; here an API
    # without RETENTION_DAYS) joins no frozen bucket, and the next run deletes its raw row.
    r = client.post("/v1/captures", json=capture(40, ts=RAW_FROM - timedelta(minutes=20)))
    assert r.json()["inserted"] == 1
    assert frozen() == kept
    assert _maintain(database_url, NOW, {}).expired_default_rows == 1
    assert frozen() == kept
    # The live buckets equal a recomputation from the raw captures left.
    live_hours = db.execute(
        "SELECT start, count FROM capture_rollup_1h WHERE start >= %s ORDER BY start", [RAW_FROM]
    ).fetchall()
    assert live_hours == [(RAW_FROM, 2), (RAW_FROM + timedelta(hours=1), 1)]
    quarters = db.execute(
        "SELECT bucket, count FROM capture_rollup_15m WHERE bucket > %s ORDER BY bucket",
        [RAW_FROM],
    ).fetchall()
    assert quarters == [
        (RAW_FROM + timedelta(minutes=15), 1),
        (RAW_FROM + timedelta(minutes=75), 1),
    ]
