"""Migration 0004 rolls up the captures already stored, and its downgrade removes the rollups."""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import make_url

from roomtemp.db import migrate


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
