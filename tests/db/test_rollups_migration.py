"""Migrations 0004 and 0006 roll up the captures already stored; their downgrades undo them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy.engine import make_url

from roomtemp.db import migrate
from tests.pieces import assert_pieces, expected_pieces, stored_pieces


def test_upgrade_rolls_up_existing_captures(empty_database_url: str) -> None:
    info = make_url(empty_database_url).set(drivername="postgresql")
    conninfo = info.render_as_string(hide_password=False)
    migrate.upgrade(empty_database_url, "0001")
    with psycopg.connect(conninfo) as conn:
        conn.execute("INSERT INTO building (key, name) VALUES ('hq', 'hq')")
        conn.execute("INSERT INTO room (building_id, key, name) VALUES (1, 'a', 'a')")
        # 10:00 exactly closes the bucket (09:45, 10:00]; 10:00:00.000001 opens the next one.
        conn.execute(
            "INSERT INTO capture (ts, value, room_id, sensor_type_id) VALUES "
            "('2026-11-22 09:50+00', 290, 1, 1), ('2026-11-22 10:00+00', 294, 1, 1), "
            "('2026-11-22 10:00:00.000001+00', 300, 1, 1), ('2026-11-22 10:59+00', 280, 1, 1)"
        )
    migrate.upgrade(empty_database_url, "0004")
    with psycopg.connect(conninfo) as conn:
        q15 = conn.execute(
            "SELECT to_char(bucket AT TIME ZONE 'UTC', 'HH24:MI'), count, sum, min, max "
            "FROM capture_rollup_15m ORDER BY bucket"
        ).fetchall()
        q1h = conn.execute(
            "SELECT to_char(bucket AT TIME ZONE 'UTC', 'HH24:MI'), count, sum, min, max "
            "FROM capture_rollup_1h ORDER BY bucket"
        ).fetchall()
    assert q15 == [
        ("10:00", 2, 584.0, 290.0, 294.0),
        ("10:15", 1, 300.0, 300.0, 300.0),
        ("11:00", 1, 280.0, 280.0, 280.0),
    ]
    assert q1h == [("10:00", 2, 584.0, 290.0, 294.0), ("11:00", 2, 580.0, 280.0, 300.0)]
    migrate.downgrade(empty_database_url, "0001")
    with psycopg.connect(conninfo) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'capture_rollup%'"
        ).fetchone()
        assert left == (0,)
        assert conn.execute("SELECT to_regproc('roomtemp_bucket')").fetchone() == (None,)


def test_0006_rebuilds_the_report_pieces_and_downgrades(empty_database_url: str) -> None:
    """Migration 0006 turns the existing 1-hour rollups into pieces and fills the day rollups
    from the captures already stored; its downgrade restores the 0004 shape and values."""
    info = make_url(empty_database_url).set(drivername="postgresql")
    conninfo = info.render_as_string(hide_password=False)
    migrate.upgrade(empty_database_url, "0002")
    start = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
    final = {
        (room, start + timedelta(minutes=7 * n + 11 * r, microseconds=n % 3)): 290.0 + (n * r) % 9
        for r, room in enumerate(("a", "b"), start=1)
        for n in range(400)
    }
    with psycopg.connect(conninfo) as conn:
        conn.execute("INSERT INTO building (key, name) VALUES ('hq', 'hq')")
        conn.execute(
            "INSERT INTO room (building_id, key, name) VALUES (1, 'a', 'a'), (1, 'b', 'b')"
        )
        with conn.cursor().copy(
            "COPY capture (ts, value, room_id, sensor_type_id) FROM STDIN"
        ) as cp:
            for (room, ts), v in final.items():
                cp.write_row((ts, v, 1 if room == "a" else 2, 1))
        # Loaded around ingest: roll up the 15 minutes as ingest would have.
        conn.execute(
            "INSERT INTO capture_rollup_15m (bucket, sum, min, max, count, room_id, "
            "sensor_type_id) SELECT roomtemp_bucket(ts, interval '15 minutes') AS b, sum(value), "
            "min(value), max(value), count(*), room_id, sensor_type_id FROM capture "
            "GROUP BY room_id, sensor_type_id, b"
        )
    migrate.upgrade(empty_database_url, "0006")
    low, high = 20.0 + 273.15, 24.0 + 273.15
    with psycopg.connect(conninfo) as conn:
        bounds = conn.execute("SELECT comfort_low, comfort_high FROM sensor_type").fetchall()
        assert bounds == [(low, high)]
        for stride, table in ((timedelta(hours=1), "capture_rollup_1h"),
                              (timedelta(days=1), "capture_rollup_1d")):  # fmt: skip
            # 0006's pieces are right-closed, keyed by their end (0009 makes them left-closed).
            want = expected_pieces(final, stride, low, high, keyed_by_end=True)
            assert_pieces(stored_pieces(conn, table, "bucket"), want)
    migrate.downgrade(empty_database_url, "0002")
    with psycopg.connect(conninfo) as conn:
        after = conn.execute(
            "SELECT r.key, x.bucket, x.count, x.sum, x.min, x.max FROM capture_rollup_1h x "
            "JOIN room r ON r.id = x.room_id"
        ).fetchall()
        assert conn.execute("SELECT to_regclass('capture_rollup_1d')").fetchone() == (None,)
    want = expected_pieces(final, timedelta(hours=1), low, high, keyed_by_end=True)
    assert {(k, b): (n, lo, hi) for k, b, n, _, lo, hi in after} == {
        k: (p["count"], p["min"], p["max"]) for k, p in want.items()
    }
    for k, b, _, total, _, _ in after:
        assert total == pytest.approx(want[(k, b)]["sum"], rel=1e-12)
    migrate.upgrade(empty_database_url)
