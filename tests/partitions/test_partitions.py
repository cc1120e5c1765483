"""Time partitions: the migration keeps every row; maintain creates, moves, expires, counts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.__main__ import main
from roomtemp.db import migrate
from roomtemp.partitions import service
from tests.conftest import NOW, ClientFactory
from tests.factories import capture
from tests.partitions.conftest import libpq, partitions
from tests.pieces import assert_pieces, expected_pieces, stored_pieces


def _seed(conn: psycopg.Connection[Any], stamps: list[datetime]) -> None:
    conn.execute("INSERT INTO building (key, name) VALUES ('hq', 'hq')")
    conn.execute(
        "INSERT INTO room (building_id, key, name) VALUES (1, 'r1', 'r1'), (1, 'r2', 'r2')"
    )
    with conn.cursor().copy("COPY capture (ts, value, room_id, sensor_type_id) FROM STDIN") as cp:
        for n, ts in enumerate(stamps):
            cp.write_row((ts, 290.0 + n % 7, 1 + n % 2, 1))


def _rows(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT * FROM capture ORDER BY 3, 4, 1").fetchall()


def test_migration_to_partitions_keeps_every_row(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "0001")
    base = datetime(2026, 9, 30, 23, 0, tzinfo=UTC)
    stamps = [base + timedelta(minutes=7 * n) for n in range(20_000)]  # Sep 30 … Jan 5
    with psycopg.connect(libpq(empty_database_url), autocommit=True) as conn:
        _seed(conn, stamps)
        before = _rows(conn)
    migrate.upgrade(empty_database_url, "0003")
    with psycopg.connect(libpq(empty_database_url), autocommit=True) as conn:
        assert _rows(conn) == before
        assert partitions(conn) == [
            "capture_default",
            "capture_p202609",
            "capture_p202610",
            "capture_p202611",
            "capture_p202612",
            "capture_p202701",
        ]
        assert conn.execute("SELECT count(*) FROM capture_default").fetchone() == (0,)
        per_month: dict[str, int] = dict(
            conn.execute(
                "SELECT tableoid::regclass::text, count(*) FROM capture GROUP BY 1"
            ).fetchall()
        )
        assert per_month["capture_p202609"] == 9  # 23:00 … 23:56 on Sep 30
        assert sum(per_month.values()) == len(stamps)
        assert conn.execute(
            "SELECT relkind FROM pg_class WHERE relname = 'capture'"
        ).fetchone() == ("p",)
    migrate.downgrade(empty_database_url, "0001")
    with psycopg.connect(libpq(empty_database_url), autocommit=True) as conn:
        assert _rows(conn) == before
        assert conn.execute(
            "SELECT relkind FROM pg_class WHERE relname = 'capture'"
        ).fetchone() == ("r",)


def _maintain(
    url: str,
    now: datetime,
    interval: service.Interval = "month",
    ahead: int = 2,
    retention_days: int | None = None,
) -> service.MaintainReport:
    async def go() -> service.MaintainReport:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                return await service.maintain(
                    conn, now, interval=interval, ahead=ahead, retention_days=retention_days
                )
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_maintain_creates_moves_and_expires(
    database_url: str, clean_partitions: psycopg.Connection[Any], client_factory: ClientFactory
) -> None:
    db = clean_partitions
    client = client_factory()
    # Ingest works with only the default partition: rows land there.
    stamps = [datetime(2026, 8, 15, tzinfo=UTC), datetime(2026, 10, 2, tzinfo=UTC), NOW]
    r = client.post("/v1/captures", json=[capture(20 + n, ts=t) for n, t in enumerate(stamps)])
    assert r.status_code == 201, r.text
    assert db.execute("SELECT count(*) FROM capture_default").fetchone() == (3,)

    report = _maintain(database_url, NOW, ahead=2)
    assert report.created == [
        ("capture_p202608", 1),
        ("capture_p202610", 1),
        ("capture_p202611", 1),
        ("capture_p202612", 0),
        ("capture_p202701", 0),
    ]
    assert report.dropped == []
    assert db.execute("SELECT count(*) FROM capture_default").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM capture").fetchone() == (3,)
    # Idempotent.
    again = _maintain(database_url, NOW, ahead=2)
    assert (again.created, again.dropped, again.kept) == ([], [], 5)

    # The upsert still counts duplicates and updates on the partitioned table.
    r = client.post("/v1/captures", json=[capture(20, ts=stamps[0]), capture(99, ts=stamps[1])])
    assert r.json() == {"inserted": 0, "duplicates": 1, "updated": 1}

    # Retention of 60 days on 2026-11-22: August ends before the cutoff (Sep 23) and goes;
    # October straddles it and stays whole.
    report = _maintain(database_url, NOW, ahead=2, retention_days=60)
    assert report.dropped == [("capture_p202608", 1)]
    assert report.created == []
    assert "capture_p202608" not in partitions(db)
    assert db.execute("SELECT count(*) FROM capture").fetchone() == (2,)

    # Ingest refuses what retention would delete, with a clear 422.
    strict = client_factory(retention_days=60)
    r = strict.post("/v1/captures", json=capture(20, ts="2026-09-01T00:00:00Z"))
    assert r.status_code == 422
    [detail] = r.json()["error"]["details"]
    assert detail["code"] == "beyond_retention"
    assert "older than the retention of 60 days" in detail["message"]


def test_maintain_daily_and_default_rows_past_retention(
    database_url: str, clean_partitions: psycopg.Connection[Any], client_factory: ClientFactory
) -> None:
    db = clean_partitions
    client = client_factory()
    stamps = [NOW - timedelta(days=10), NOW - timedelta(days=1), NOW]
    assert client.post("/v1/captures", json=[capture(20, ts=t) for t in stamps]).status_code == 201
    report = _maintain(database_url, NOW, interval="day", ahead=1, retention_days=5)
    # The 10-day-old row sits in the default partition past retention: deleted, not moved.
    assert report.expired_default_rows == 1
    assert report.created == [
        ("capture_p20261121", 1),
        ("capture_p20261122", 1),
        ("capture_p20261123", 0),
    ]
    assert db.execute("SELECT count(*) FROM capture").fetchone() == (2,)


def test_concurrent_maintain_runs_serialise(
    database_url: str, clean_partitions: psycopg.Connection[Any]
) -> None:
    async def both() -> list[service.MaintainReport]:
        engine = create_async_engine(database_url)

        async def one() -> service.MaintainReport:
            async with engine.begin() as conn:
                return await service.maintain(
                    conn, NOW, interval="day", ahead=3, retention_days=None
                )

        try:
            return list(await asyncio.gather(one(), one()))
        finally:
            await engine.dispose()

    first, second = asyncio.run(both())
    assert sorted([len(first.created), len(second.created)]) == [0, 4]


def test_cli_maintain(
    database_url: str,
    clean_partitions: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PARTITION_INTERVAL", "day")
    monkeypatch.setenv("PARTITION_AHEAD", "2")
    assert main(["maintain"]) == 0
    assert capsys.readouterr().out.strip().endswith("3 created, 0 dropped, 0 unchanged")
    today = datetime.now(UTC)
    assert f"capture_p{today:%Y%m%d}" in partitions(clean_partitions)
    assert main(["maintain", "--ahead", "3"]) == 0
    assert capsys.readouterr().out.strip().endswith("1 created, 0 dropped, 3 unchanged")


@pytest.mark.parametrize(
    ("name", "start", "end"),
    [
        ("capture_p202612", datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        ("capture_p20240229", datetime(2024, 2, 29, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)),
    ],
)
def test_period_names(name: str, start: datetime, end: datetime) -> None:
    period = service.period_from_name(name)
    assert period == service.Period(start, end)
    assert period.name == name
    assert service.period_from_name("capture_default") is None


def _assert_rollups_exact(db: psycopg.Connection[Any]) -> None:
    """Every rollup table equals a recomputation from the captures left."""
    final = {
        (room, ts): v
        for room, ts, v in db.execute(
            "SELECT r.key, c.ts, c.value FROM capture c JOIN room r ON r.id = c.room_id"
        )
    }
    low, high = 20.0 + 273.15, 24.0 + 273.15
    q15 = db.execute(
        "SELECT r.key, x.bucket, x.count FROM capture_rollup_15m x JOIN room r ON r.id = x.room_id"
    ).fetchall()
    assert {(k, b): n for k, b, n in q15} == {
        k: p["count"]
        for k, p in expected_pieces(
            final, timedelta(minutes=15), low, high, keyed_by_end=True
        ).items()
    }
    for stride, table in ((timedelta(hours=1), "capture_rollup_1h"),
                          (timedelta(days=1), "capture_rollup_1d")):  # fmt: skip
        assert_pieces(stored_pieces(db, table), expected_pieces(final, stride, low, high))


def _rollup_rows(db: psycopg.Connection[Any]) -> dict[str, list[str]]:
    """Every row of every rollup table, as PostgreSQL's text of the whole row (byte for byte)."""
    return {
        table: [
            r[0]
            for r in db.execute(
                f"SELECT CAST(x AS text) FROM {table} x ORDER BY room_id, sensor_id, {key}"
            )
        ]
        for table, key in (
            ("capture_rollup_15m", "bucket"),
            ("capture_rollup_1h", "start"),
            ("capture_rollup_1d", "start"),
        )
    }


def test_rollups_outlive_their_partitions(
    database_url: str, clean_partitions: psycopg.Connection[Any], client_factory: ClientFactory
) -> None:
    """Dropped partitions leave every rollup row as it was, the 15-minute bucket that straddles
    the raw horizon included; so do rows deleted from the default partition for retention."""
    db = clean_partitions
    client = client_factory()
    boundary = datetime(2026, 9, 1, tzinfo=UTC)
    stamps = [boundary - timedelta(minutes=5), boundary, boundary + timedelta(minutes=5)]
    body = [capture(20 + n, ts=t) for n, t in enumerate(stamps)]
    assert client.post("/v1/captures", json=body).status_code == 201
    _maintain(database_url, NOW, ahead=0)  # August and September partitions exist now
    _assert_rollups_exact(db)
    before = _rollup_rows(db)

    # Retention of 60 days on 2026-11-22 (cutoff Sep 23): August goes whole; raw captures are
    # kept from Sep 1 00:00 (the start of the month holding the cutoff).
    report = _maintain(database_url, NOW, ahead=0, retention_days=60)
    assert report.dropped == [("capture_p202608", 1)]
    assert report.expired_rollup_buckets == {}
    assert report.horizons == {"raw": boundary}
    assert "raw data kept from 2026-09-01T00:00:00+00:00" in report.lines()
    assert db.execute("SELECT * FROM retention_horizon").fetchall() == [("raw", boundary)]
    assert _rollup_rows(db) == before
    # The 1-day piece of Aug 31 and the 15-minute bucket ending at Sep 1 00:00 (it holds 23:55
    # and 00:00) still count the dropped capture.
    day = db.execute("SELECT count, sum FROM capture_rollup_1d WHERE start = '2026-08-31'")
    assert day.fetchone() == (1, pytest.approx(20 + 273.15))
    quarter = db.execute("SELECT count FROM capture_rollup_15m WHERE bucket = %s", [boundary])
    assert quarter.fetchone() == (2,)

    # October has no partition (maintenance did not run since): its rows land in the default.
    october = [
        datetime(2026, 10, 3, 23, 50, tzinfo=UTC) + timedelta(minutes=5 * n) for n in range(6)
    ]
    body = [capture(18 + n, room="x", ts=t) for n, t in enumerate(october)]
    body.append(capture(25, room="x", ts=datetime(2026, 10, 30, tzinfo=UTC)))
    assert client.post("/v1/captures", json=body).status_code == 201
    assert db.execute("SELECT count(*) FROM capture_default").fetchone() == (7,)
    before = _rollup_rows(db)

    # 50 days before Nov 23 00:10 is Oct 4 00:10: September goes whole; the raw horizon is
    # Oct 1 (the month holding the cutoff) and October gets its partition with all 7 rows.
    report = _maintain(
        database_url, datetime(2026, 11, 23, 0, 10, tzinfo=UTC), ahead=0, retention_days=50
    )
    assert report.dropped == [("capture_p202609", 2)]
    assert report.expired_default_rows == 0
    assert report.created == [("capture_p202610", 7)]
    assert report.horizons == {"raw": datetime(2026, 10, 1, tzinfo=UTC)}
    assert _rollup_rows(db) == before


def _compact(url: str, now: datetime, after: timedelta) -> list[tuple[str, int, int]]:
    async def go() -> list[tuple[str, int, int]]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                return await service.compact(conn, now, after)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _fillfactor(conn: psycopg.Connection[Any], index: str) -> list[str] | None:
    row = conn.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [index]).fetchone()
    return row[0] if row else None


@pytest.mark.single_node(
    "measures the partitions' index sizes on the server it connects to: on Citus the "
    "coordinator's partitions are empty shells and the rows live in the workers' shards"
)
def test_compaction_rebuilds_ended_partitions_only(
    database_url: str, clean_partitions: psycopg.Connection[Any]
) -> None:
    db = clean_partitions
    # October: 40 rooms x 1 capture a minute for 2 days, in arrival order (time, then room),
    # as sensors send them; November (the current month) gets a few.
    db.execute("INSERT INTO building (key, name) VALUES ('hq', 'hq')")
    db.execute(
        "INSERT INTO room (building_id, key, name) "
        "SELECT 1, 'r' || g, 'r' || g FROM generate_series(1, 40) g"
    )
    # Each room's default temperature sensor (what the building/room form writes to).
    db.execute("INSERT INTO sensor (sensor_type_id, default_room_id) SELECT 1, id FROM room")
    _maintain(database_url, NOW, ahead=0)
    _maintain(database_url, datetime(2026, 10, 5, tzinfo=UTC), ahead=0)
    db.execute(
        "INSERT INTO capture (ts, value, room_id, sensor_id) "
        "SELECT t, 290 + s.default_room_id % 7, s.default_room_id, s.id FROM generate_series("
        "timestamptz '2026-10-01 00:00+00', timestamptz '2026-10-02 23:59+00', interval '1 minute'"
        ") t, sensor s ORDER BY t, s.default_room_id"
    )
    db.execute(
        "INSERT INTO capture (ts, value, room_id, sensor_id) "
        "SELECT timestamptz '2026-11-20 00:00+00' + default_room_id * interval '1 minute', 291, "
        "default_room_id, id FROM sensor"
    )
    before = _rows(db)

    # On November 1st October has ended only just: nothing is rebuilt yet.
    assert _compact(database_url, datetime(2026, 11, 1, 12, tzinfo=UTC), timedelta(days=2)) == []
    [(name, size_before, size_after)] = _compact(database_url, NOW, timedelta(days=2))
    assert name == "capture_p202610"
    assert size_after < size_before, (size_before, size_after)
    assert _fillfactor(db, "capture_p202610_pkey") == ["fillfactor=100"]
    assert _fillfactor(db, "capture_p202611_pkey") is None  # the current month is left alone
    assert _fillfactor(db, "capture_default_pkey") is None
    assert _rows(db) == before
    # Done once; a late capture still goes into the compacted partition.
    assert _compact(database_url, NOW, timedelta(days=2)) == []
    db.execute(
        "INSERT INTO capture (ts, value, room_id, sensor_id) "
        "SELECT '2026-10-01 00:00:30+00', 300, default_room_id, id FROM sensor "
        "WHERE default_room_id = 1"
    )
    assert db.execute("SELECT count(*) FROM capture_p202610").fetchone() == (2 * 1440 * 40 + 1,)


def test_cli_maintain_reports_compaction(
    database_url: str,
    clean_partitions: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PARTITION_INTERVAL", "day")
    monkeypatch.setenv("PARTITION_AHEAD", "1")
    monkeypatch.setenv("PARTITION_COMPACT_AFTER_DAYS", "0")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    _maintain(database_url, yesterday, interval="day", ahead=0)
    assert main(["maintain"]) == 0
    out = capsys.readouterr().out
    assert f"compacted the primary key of capture_p{yesterday:%Y%m%d}:" in out
