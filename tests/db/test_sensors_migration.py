"""Migration 0007 on a populated database: exact up, down and up again; old-version writes during
the copy; what an old pod gets after the swap; the exact downgrade rule; the Citus plan."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import psycopg
import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, pool
from sqlalchemy.engine import make_url

from roomtemp.app import create_app
from roomtemp.clock import fixed_clock
from roomtemp.db import migrate
from tests import reference
from tests.conftest import make_settings
from tests.db.migration_files import load_migration, migration_file

MIGRATION = migration_file("0007_sensors")


m0007 = load_migration(MIGRATION, "sensors_0007")

ROOMS = (("hq", "a"), ("hq", "b"), ("lab", "x"))
TYPES = ("temperature", "humidity")
FIRST = datetime(2026, 9, 28, 22, 0, tzinfo=UTC)
# Monthly partitions as `roomtemp maintain` creates them; December stays in the default one.
MONTHS = ((2026, 9), (2026, 10), (2026, 11))
ROLLUPS = ("capture_rollup_15m", "capture_rollup_1h", "capture_rollup_1d")
Key = tuple[str, str, str]  # building, room, sensor type
_PIECES = (
    "min_ts, max_ts, first_ts, first_value, last_ts, last_value, value_seconds, below_seconds, "
    "above_seconds, gap_seconds, gap_start"
)
#: The value columns of each rollup table (written out here, not taken from the migration).
ROLLUP_COLUMNS = {
    "capture_rollup_15m": "bucket, sum, min, max, count",
    "capture_rollup_1h": f"bucket, sum, min, max, count, {_PIECES}",
    "capture_rollup_1d": f"bucket, sum, min, max, count, {_PIECES}",
}


def conninfo_of(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def populate(url: str) -> None:
    """A database filled as the 0006-era code leaves it: captures over three monthly partitions
    and the default one, two sensor types, three rooms in two buildings, 15-minute rollups
    written at ingest, and 1 h / 1 d pieces from 0006's backfill."""
    migrate.upgrade(url, "0002")
    rng = random.Random(7)
    with psycopg.connect(conninfo_of(url)) as conn:
        conn.execute("INSERT INTO building (key, name) VALUES ('hq', 'hq'), ('lab', 'lab')")
        conn.execute(
            "INSERT INTO room (building_id, key, name) VALUES (1, 'a', 'a'), (1, 'b', 'b'), "
            "(2, 'x', 'x'), (1, 'empty', 'empty')"
        )
        conn.execute(
            "INSERT INTO sensor_type (key, unit, min_value, max_value) "
            "VALUES ('humidity', 'percent', 0, 100)"
        )
        for year, month in MONTHS:
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            conn.execute(
                f"CREATE TABLE capture_p{start:%Y%m} PARTITION OF capture "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        with conn.cursor().copy(
            "COPY capture (ts, value, room_id, sensor_type_id) FROM STDIN"
        ) as cp:
            for room_id in (1, 2, 3):
                for type_id in (1, 2):
                    ts = FIRST
                    for _ in range(400):
                        # Irregular spacing, some equal timestamps across rooms (whole hours).
                        ts += timedelta(minutes=rng.choice((17, 60, 133, 371, 720)))
                        base = 293.0 if type_id == 1 else 45.0
                        cp.write_row((ts, base + rng.uniform(-4, 4), room_id, type_id))
        conn.execute(
            "INSERT INTO capture_rollup_15m (bucket, sum, min, max, count, room_id, "
            "sensor_type_id) SELECT roomtemp_bucket(ts, interval '15 minutes') AS b, sum(value), "
            "min(value), max(value), count(*), room_id, sensor_type_id FROM capture "
            "GROUP BY room_id, sensor_type_id, b"
        )
    migrate.upgrade(url, "0006")


def _facts_join(shape: str) -> str:
    if shape == "0006":
        return "JOIN sensor_type st ON st.id = f.sensor_type_id"
    return "JOIN sensor s ON s.id = f.sensor_id JOIN sensor_type st ON st.id = s.sensor_type_id"


def captures(conn: psycopg.Connection[Any], shape: str) -> dict[tuple[Key, datetime], float]:
    rows = conn.execute(
        "SELECT b.key, r.key, st.key, f.ts, f.value FROM capture f "
        "JOIN room r ON r.id = f.room_id JOIN building b ON b.id = r.building_id "
        + _facts_join(shape)
    ).fetchall()
    out = {((b, r, t), ts): v for b, r, t, ts, v in rows}
    assert len(out) == len(rows)
    return out


def rollups(conn: psycopg.Connection[Any], shape: str) -> dict[str, dict[Any, tuple[Any, ...]]]:
    out: dict[str, dict[Any, tuple[Any, ...]]] = {}
    for table in ROLLUPS:
        columns = ROLLUP_COLUMNS[table].split(", ")
        rows = conn.execute(
            f"SELECT b.key, r.key, st.key, {', '.join('f.' + c for c in columns)} FROM {table} f "
            "JOIN room r ON r.id = f.room_id JOIN building b ON b.id = r.building_id "
            + _facts_join(shape)
        ).fetchall()
        out[table] = {(row[0], row[1], row[2], row[3]): tuple(row[4:]) for row in rows}
        assert len(out[table]) == len(rows)
    return out


def windows() -> list[tuple[datetime, datetime]]:
    """Rolling windows ending across the data (and before and after it), several lengths."""
    ends = [FIRST + timedelta(hours=h) for h in range(-5, 24 * 75, 37)]
    spans = (timedelta(minutes=15), timedelta(hours=1), timedelta(hours=9), timedelta(days=1))
    return [(end - span, end) for end in ends for span in spans]


def statistics(
    rows: dict[tuple[Key, datetime], float], by_sensor: dict[tuple[Key, datetime], int] | None
) -> dict[tuple[Key, datetime, datetime], tuple[Any, ...]]:
    """Every room statistic of every window, by the reference; after 0007 pooled per sensor as
    the design says (count/mean/min/max over all captures, time-weighted mean = mean of each
    sensor's own, `sensors` = sensors with a capture in the window)."""
    series: dict[tuple[Key, int], dict[datetime, float]] = defaultdict(dict)
    for (key, ts), value in rows.items():
        series[(key, by_sensor[(key, ts)] if by_sensor else 0)][ts] = value
    out: dict[tuple[Key, datetime, datetime], tuple[Any, ...]] = {}
    keys = {k for k, _ in series}
    for key in keys:
        sensors = [s for k, s in series if k == key]
        for start, end in windows():
            each = [reference.window(series[(key, s)], start, end) for s in sensors]
            seen = [e for e in each if e.count]
            values = [v for s in sensors for t, v in series[(key, s)].items() if start < t <= end]
            held = [e.time_weighted_mean for e in seen if e.time_weighted_mean is not None]
            out[(key, start, end)] = (
                len(values),
                math.fsum(values) / len(values) if values else None,
                min(values, default=None),
                max(values, default=None),
                math.fsum(held) / len(held) if held else None,
                len(seen),
            )
    return out


def assert_close(a: dict[Any, tuple[Any, ...]], b: dict[Any, tuple[Any, ...]]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert len(a[k]) == len(b[k]), k
        for x, y in zip(a[k], b[k], strict=True):
            if x is None or y is None or isinstance(x, datetime):
                assert x == y, k
            else:
                assert x == pytest.approx(y, rel=1e-9, abs=1e-9), k


def _span(d: timedelta) -> str:
    minutes = int(d.total_seconds() // 60)
    return f"{minutes // 1440}d" if minutes % 1440 == 0 else f"{minutes}m"


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def assert_api_agrees(url: str, rows: dict[tuple[Key, datetime], float]) -> None:
    """The app's own reads on the migrated database (latest-style averages at every window of
    `windows()`, hourly and daily series) against the reference over the 0006 rows."""
    stats = statistics(rows, None)
    app = create_app(
        make_settings(database_url=url, auth_required=False),
        clock=fixed_clock(FIRST + timedelta(days=80)),
    )
    with TestClient(app) as client:
        for (key, start, end), want in stats.items():
            b, r, t = key
            got = client.get(
                f"/v1/buildings/{b}/rooms/{r}/average",
                params={"sensor_type": t, "at": _iso(end), "window": _span(end - start)},
            )
            assert got.status_code == 200, got.text
            body = got.json()
            have = tuple(
                body[f] for f in ("count", "mean", "min", "max", "time_weighted_mean", "sensors")
            )
            assert_close({key: have}, {key: want})
        series_spans = (
            (FIRST + timedelta(days=20), timedelta(days=10), timedelta(hours=1)),
            (FIRST - timedelta(days=1), timedelta(days=75), timedelta(days=1)),
        )
        for key in {k for k, _ in rows}:
            b, r, t = key
            mine = {ts: v for (k, ts), v in rows.items() if k == key}
            for start, length, step in series_spans:
                got = client.get(
                    f"/v1/buildings/{b}/rooms/{r}/averages",
                    params={
                        "sensor_type": t, "from": _iso(start), "to": _iso(start + length),
                        "step": _span(step), "window": _span(step),
                    },
                )  # fmt: skip
                assert got.status_code == 200, got.text
                points = got.json()["points"]
                times = reference.series_times(start, start + length, step)
                assert [datetime.fromisoformat(p["t"]) for p in points] == times
                for p in points:
                    end = datetime.fromisoformat(p["t"])
                    e = reference.window(mine, end - step, end)
                    have = (p["count"], p["mean"], p["min"], p["max"], p["sensors"])
                    want = (e.count, e.mean, e.min, e.max, 1 if e.count else 0)
                    assert_close({(key, end): have}, {(key, end): want})


def reports(url: str) -> dict[tuple[str, str, str], Any]:
    """The period reports of both buildings and types (whole data, and odd edges), as JSON."""
    app = create_app(
        make_settings(database_url=url, auth_required=False),
        clock=fixed_clock(FIRST + timedelta(days=80)),
    )
    periods = (
        (FIRST, FIRST + timedelta(days=75)),
        (FIRST + timedelta(days=10, hours=7, minutes=3), FIRST + timedelta(days=40, hours=13)),
    )
    out: dict[tuple[str, str, str], Any] = {}
    with TestClient(app) as client:
        for b in ("hq", "lab"):
            for t in TYPES:
                for start, end in periods:
                    got = client.get(
                        f"/v1/buildings/{b}/report",
                        params={"sensor_type": t, "from": _iso(start), "to": _iso(end)},
                    )
                    assert got.status_code == 200, got.text
                    out[(b, t, _iso(start))] = got.json()
    return out


def assert_same_json(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict)
        assert a.keys() == b.keys()
        for k in a:
            assert_same_json(a[k], b[k])
    elif isinstance(a, list):
        assert isinstance(b, list)
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same_json(x, y)
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-9)
    else:
        assert a == b


def sensor_of(conn: psycopg.Connection[Any]) -> dict[tuple[Key, datetime], int]:
    rows = conn.execute(
        "SELECT b.key, r.key, st.key, f.ts, f.sensor_id FROM capture f "
        "JOIN room r ON r.id = f.room_id JOIN building b ON b.id = r.building_id "
        + _facts_join("0007")
    ).fetchall()
    return {((b, r, t), ts): s for b, r, t, ts, s in rows}


def test_populated_database_up_down_up_is_exact(empty_database_url: str) -> None:
    url = empty_database_url
    populate(url)
    with psycopg.connect(conninfo_of(url)) as conn:
        before = captures(conn, "0006")
        before_rollups = rollups(conn, "0006")
        parts = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'capture'::regclass"
        ).fetchone()
        in_default = conn.execute("SELECT count(*) FROM capture_default").fetchone()
    assert len(before) == 3 * 2 * 400
    assert parts == (4,)
    assert in_default is not None
    assert in_default[0] > 0  # the default partition holds data too
    assert all(len(v) > 100 for v in before_rollups.values())
    stats = statistics(before, None)
    assert sum(1 for s in stats.values() if s[0]) > 500  # the windows do see data

    migrate.upgrade(url, "0007")
    with psycopg.connect(conninfo_of(url)) as conn:
        assert captures(conn, "0007") == before  # every capture, exactly
        assert rollups(conn, "0007") == before_rollups  # every rollup row, exactly
        sensors = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE key IS NULL) FROM sensor"
        ).fetchone()
        assert sensors == (6, 6)  # one default sensor per (room, type) with data
        assignments = conn.execute(
            "SELECT count(*) FROM sensor_assignment a JOIN sensor s ON s.id = a.sensor_id "
            "WHERE a.valid_from = '-infinity' AND a.room_id = s.default_room_id"
        ).fetchone()
        assert assignments == (6,)
        after_stats = statistics(captures(conn, "0007"), sensor_of(conn))
        leftovers = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_0007' "
            "OR relname LIKE 'roomtemp\\_0007%'"
        ).fetchone()
        functions = conn.execute(
            "SELECT count(*) FROM pg_proc WHERE proname LIKE 'roomtemp\\_0007%'"
        ).fetchone()
    assert_close(after_stats, stats)
    migrate.upgrade(url)  # the app serves at head only (0009 makes the pieces left-closed)
    assert_api_agrees(url, before)
    first_reports = reports(url)
    assert any(r["rooms"] for r in first_reports.values())
    assert leftovers == (0,)
    assert functions == (0,)

    migrate.downgrade(url, "0006")
    with psycopg.connect(conninfo_of(url)) as conn:
        assert captures(conn, "0006") == before
        down = rollups(conn, "0006")
        assert conn.execute("SELECT to_regclass('sensor')").fetchone() == (None,)
    for table in ROLLUPS:  # rebuilt by the frozen backfills: the same rows, sums to 1e-9
        assert_close(down[table], before_rollups[table])

    migrate.upgrade(url, "0007")
    with psycopg.connect(conninfo_of(url)) as conn:
        assert captures(conn, "0007") == before
        again = rollups(conn, "0007")
    migrate.upgrade(url)
    assert_api_agrees(url, before)
    # Reports read the 1 h / 1 d pieces: rebuilt by the downgrade, copied by the upgrade again.
    assert_same_json(reports(url), first_reports)
    for table in ROLLUPS:
        assert_close(again[table], before_rollups[table])


def _old_write(
    conn: psycopg.Connection[Any], room: int, type_id: int, ts: datetime, v: float
) -> None:
    """A capture written as the 0006-era ingest writes it: upsert the capture, then its
    15-minute rollup bucket recomputed from the captures."""
    conn.execute(
        "INSERT INTO capture (ts, value, room_id, sensor_type_id) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (room_id, sensor_type_id, ts) DO UPDATE SET value = EXCLUDED.value",
        (ts, v, room, type_id),
    )
    conn.execute(
        "INSERT INTO capture_rollup_15m (bucket, sum, min, max, count, room_id, sensor_type_id) "
        "SELECT roomtemp_bucket(ts, interval '15 minutes') AS b, sum(value), min(value), "
        "max(value), count(*), room_id, sensor_type_id FROM capture "
        "WHERE room_id = %s AND sensor_type_id = %s "
        "AND roomtemp_bucket(ts, interval '15 minutes') "
        "    = roomtemp_bucket(%s, interval '15 minutes') "
        "GROUP BY room_id, sensor_type_id, b "
        "ON CONFLICT (room_id, sensor_type_id, bucket) DO UPDATE SET sum = EXCLUDED.sum, "
        "min = EXCLUDED.min, max = EXCLUDED.max, count = EXCLUDED.count",
        (room, type_id, ts),
    )


@pytest.fixture
def engine_url(empty_database_url: str) -> str:
    populate(empty_database_url)
    return empty_database_url


def _phase(conn: Connection, step: Any) -> None:
    with Operations.context(MigrationContext.configure(conn)):
        step()


def test_old_version_writes_during_the_copy_are_kept(engine_url: str) -> None:
    """The upgrade's phases driven one by one, an old-version writer between them and one
    blocked by a partition's copy: after the swap the new tables hold exactly what the old
    ones held, including a new room that got its default sensor from the mirror."""
    engine = create_engine(engine_url, poolclass=pool.NullPool)
    info = conninfo_of(engine_url)
    try:
        with engine.connect() as mig:
            _phase(mig, lambda: m0007._build(mig, False))
            mig.commit()
            steps = m0007._copy_steps(mig)
            assert [s[0] for s in steps[:4]] == [
                "capture_default", "capture_p202609", "capture_p202610", "capture_p202611",
            ]  # fmt: skip
            mig.commit()
            auto = mig.execution_options(isolation_level="AUTOCOMMIT")
            with psycopg.connect(info, autocommit=True) as old:
                old.execute("INSERT INTO room (building_id, key, name) VALUES (2, 'new', 'new')")
                # Before any copy: a re-sent capture with a new value, a new capture in a
                # partition copied later, a new (room, type) pair, a deletion.
                some = old.execute(
                    "SELECT ts FROM capture_p202610 WHERE room_id = 1 AND sensor_type_id = 1 "
                    "ORDER BY ts LIMIT 2"
                ).fetchall()
                _old_write(old, 1, 1, some[0][0], 999.5)
                _old_write(old, 2, 2, datetime(2026, 11, 5, 3, 0, 0, 7, tzinfo=UTC), 44.25)
                _old_write(old, 5, 1, datetime(2026, 10, 9, 9, 9, tzinfo=UTC), 291.0)
                old.execute(
                    "DELETE FROM capture WHERE room_id = 1 AND sensor_type_id = 1 AND ts = %s",
                    (some[1][0],),
                )
                run = partial(m0007._in_transaction, auto)
                for source, target, name in steps[:2]:
                    m0007._copy(auto, source, target, name, run)
                # An old-version writer re-sending a capture of room 3 in capture_p202610, not
                # committed yet, holds back the copy of that room's rows (one batch)...
                resent = old.execute(
                    "SELECT ts FROM capture_p202610 WHERE room_id = 3 AND sensor_type_id = 2 "
                    "ORDER BY ts LIMIT 1"
                ).fetchall()[0][0]
                writer = psycopg.connect(info)
                _old_write(writer, 3, 2, resent, 47.5)
                copier = threading.Thread(target=m0007._copy, args=(auto, *steps[2], run))
                copier.start()
                deadline = time.monotonic() + 10
                while not old.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE 'INSERT INTO capture_p202610_0007%'"
                ).fetchone()[0]:  # type: ignore[index]
                    assert time.monotonic() < deadline, "the copy did not wait for the writer"
                    time.sleep(0.02)
                # ...while new captures of that room and partition, and updates of rows already
                # copied, do not wait for the copy (they would hit the statement timeout).
                old.execute("SET statement_timeout = '3s'")
                _old_write(old, 3, 2, datetime(2026, 10, 21, 5, 0, tzinfo=UTC), 46.0)
                _old_write(old, 1, 1, some[0][0], 999.75)
                writer.commit()  # ...and it is copied (and mirrored) once the writer commits.
                writer.close()
                copier.join(10)
                assert not copier.is_alive()
                for source, target, name in steps[3:]:
                    m0007._copy(auto, source, target, name, run)
                # After every copy: writes land in copied tables through the mirror only.
                _old_write(old, 1, 1, some[0][0], 1000.25)
                _old_write(old, 2, 1, datetime(2026, 12, 2, 8, 0, tzinfo=UTC), 300.5)
                want = captures(old, "0006")
                want_rollups = rollups(old, "0006")
        with engine.connect() as swap:
            _phase(swap, lambda: m0007._swap(swap))
            swap.commit()
    finally:
        engine.dispose()
    with psycopg.connect(info) as conn:
        assert captures(conn, "0007") == want
        assert rollups(conn, "0007") == want_rollups
        assert want[(("hq", "a", "temperature"), some[0][0])] == 1000.25
        assert (("hq", "a", "temperature"), some[1][0]) not in want
        assert want[(("lab", "x", "humidity"), resent)] == 47.5
        new_default = conn.execute(
            "SELECT s.key, s.sensor_type_id, a.room_id, a.valid_from = '-infinity' FROM sensor s "
            "JOIN sensor_assignment a ON a.sensor_id = s.id WHERE s.default_room_id = 5"
        ).fetchall()
        assert new_default == [(None, 1, 5, True)]


def test_an_old_pod_after_the_swap_gets_undefined_column(engine_url: str) -> None:
    """What a not-yet-replaced pod gets once the swap committed: its statements name
    sensor_type_id on capture, which is gone (SQLSTATE 42703, the API answers 500)."""
    migrate.upgrade(engine_url, "0007")
    with psycopg.connect(conninfo_of(engine_url)) as conn:
        with pytest.raises(psycopg.errors.UndefinedColumn) as raised:
            _old_write(conn, 1, 1, datetime(2026, 11, 30, tzinfo=UTC), 290.0)
        assert raised.value.sqlstate == "42703"
        conn.rollback()
        with pytest.raises(psycopg.errors.UndefinedColumn):
            conn.execute("SELECT avg(value) FROM capture WHERE room_id = 1 AND sensor_type_id = 1")


def test_downgrade_keeps_the_default_sensors_capture_and_rebuilds_the_rollups(
    engine_url: str,
) -> None:
    """Two sensors of one room and type at the same instant cannot both survive the old key:
    the room's default sensor's capture is kept, else the lowest sensor id's; the rollups are
    rebuilt from the captures kept, so they agree with them."""
    migrate.upgrade(engine_url, "0007")
    info = conninfo_of(engine_url)
    shared = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    with psycopg.connect(info) as conn:
        conn.execute(
            "INSERT INTO sensor (key, sensor_type_id) VALUES ('zb-9', 1), ('zb-2', 1), ('zb-3', 1)"
        )
        conn.execute(
            "INSERT INTO sensor_assignment (valid_from, sensor_id, room_id) "
            "SELECT '-infinity', id, 1 FROM sensor WHERE key IS NOT NULL"
        )
        default = conn.execute(
            "SELECT id FROM sensor WHERE default_room_id = 1 AND sensor_type_id = 1"
        ).fetchone()
        assert default is not None
        ids: dict[str, int] = dict(
            conn.execute("SELECT key, id FROM sensor WHERE key IS NOT NULL").fetchall()
        )
        rows = [
            (shared, 290.0, default[0]),
            (shared, 295.0, ids["zb-9"]),
            (shared + timedelta(minutes=1), 296.0, ids["zb-3"]),
            (shared + timedelta(minutes=1), 297.0, ids["zb-2"]),
            (shared + timedelta(minutes=2), 298.0, ids["zb-9"]),
        ]
        for ts, v, s in rows:
            conn.execute(
                "INSERT INTO capture (ts, value, room_id, sensor_id) VALUES (%s, %s, 1, %s)",
                (ts, v, s),
            )
    migrate.downgrade(engine_url, "0006")
    with psycopg.connect(info) as conn:
        kept = captures(conn, "0006")
        key = ("hq", "a", "temperature")
        assert kept[(key, shared)] == 290.0  # the default sensor's
        assert kept[(key, shared + timedelta(minutes=1))] == 297.0  # zb-2: lowest id of the two
        assert kept[(key, shared + timedelta(minutes=2))] == 298.0
        bucket = conn.execute(
            "SELECT count, sum, min, max FROM capture_rollup_15m WHERE room_id = 1 "
            "AND sensor_type_id = 1 AND bucket = roomtemp_bucket(%s, interval '15 minutes')",
            (shared,),
        ).fetchone()
        late = shared + timedelta(minutes=2)
        hour = conn.execute(
            "SELECT count, first_value, last_value FROM capture_rollup_1h WHERE room_id = 1 "
            "AND sensor_type_id = 1 AND bucket = roomtemp_bucket(%s, interval '1 hour')",
            (late,),
        ).fetchone()
    inside = [
        v for (k, t), v in kept.items() if k == key and shared - timedelta(minutes=15) < t <= shared
    ]
    assert bucket == (len(inside), pytest.approx(sum(inside)), min(inside), max(inside))
    in_hour = sorted(
        (t, v)
        for (k, t), v in kept.items()
        if k == key and shared < t <= shared + timedelta(hours=1)
    )
    assert hour == (len(in_hour), in_hour[0][1], in_hour[-1][1])
    assert in_hour[0] == (shared + timedelta(minutes=1), 297.0)


SENSOR_FKS = [
    (
        "sensor",
        "fk_sensor_default_room_id_room",
        "FOREIGN KEY (default_room_id) REFERENCES room(id)",
    ),
    (
        "sensor_assignment",
        "fk_sensor_assignment_sensor_id_sensor",
        "FOREIGN KEY (sensor_id) REFERENCES sensor(id)",
    ),
]


def test_citus_plan_references_sensor_tables_and_colocates_the_new_facts() -> None:
    steps = m0007.citus_plan(SENSOR_FKS, ["capture_0007", "capture_rollup_1h_0007"], quote)
    assert steps == [
        ("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'", {}),
        ('ALTER TABLE "sensor" DROP CONSTRAINT "fk_sensor_default_room_id_room"', {}),
        (
            'ALTER TABLE "sensor_assignment" DROP CONSTRAINT '
            '"fk_sensor_assignment_sensor_id_sensor"',
            {},
        ),
        ("SELECT create_reference_table(:t)", {"t": "sensor"}),
        ("SELECT create_reference_table(:t)", {"t": "sensor_assignment"}),
        ("SELECT create_reference_table(:t)", {"t": "sensor_status"}),
        ("SELECT create_reference_table(:t)", {"t": "unknown_sensor"}),
        (
            'ALTER TABLE "sensor" ADD CONSTRAINT "fk_sensor_default_room_id_room" '
            "FOREIGN KEY (default_room_id) REFERENCES room(id)",
            {},
        ),
        (
            'ALTER TABLE "sensor_assignment" ADD CONSTRAINT '
            '"fk_sensor_assignment_sensor_id_sensor" FOREIGN KEY (sensor_id) REFERENCES sensor(id)',
            {},
        ),
        (
            "SELECT create_distributed_table(:t, 'room_id', colocate_with => :c)",
            {"t": "capture_0007", "c": "capture"},
        ),
        (
            "SELECT create_distributed_table(:t, 'room_id', colocate_with => :c)",
            {"t": "capture_rollup_1h_0007", "c": "capture"},
        ),
    ]


@pytest.mark.single_node(
    "reads 0007's plan off a schema that 0007 has not distributed (asserts no citus extension)"
)
def test_citus_discovery_on_the_live_schema(database_url: str) -> None:
    """The foreign keys the plan drops and re-adds are read from the live schema: every key of
    the sensor tables, and nothing else."""
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            fks = m0007._sensor_foreign_keys(conn)
            assert not m0007.citus_installed(conn)
    finally:
        engine.dispose()
    assert {t for t, _, _ in fks} == {"sensor", "sensor_assignment", "sensor_status"}
    assert {n for _, n, _ in fks} >= {
        "fk_sensor_sensor_type_id_sensor_type",
        "fk_sensor_default_room_id_room",
        "fk_sensor_assignment_sensor_id_sensor",
        "fk_sensor_assignment_room_id_room",
        "fk_sensor_status_sensor_id_sensor",
    }


def quote(name: str) -> str:
    return f'"{name}"'


def test_a_run_resumes_after_a_partial_one_and_a_new_partition(engine_url: str) -> None:
    """A run that stopped after the build (and some copying) is finished by running
    `roomtemp migrate` again, including a partition `roomtemp maintain` created meanwhile."""
    engine = create_engine(engine_url, poolclass=pool.NullPool)
    info = conninfo_of(engine_url)
    try:
        with engine.connect() as mig:
            _phase(mig, lambda: m0007._build(mig, False))
            mig.commit()
            first = m0007._copy_steps(mig)[1]
            mig.commit()
            auto = mig.execution_options(isolation_level="AUTOCOMMIT")
            m0007._copy(auto, *first, partial(m0007._in_transaction, auto))
    finally:
        engine.dispose()
    with psycopg.connect(info) as conn:
        conn.execute(
            "CREATE TABLE capture_p202701 PARTITION OF capture "
            "FOR VALUES FROM ('2027-01-01 00:00+00') TO ('2027-02-01 00:00+00')"
        )
        _old_write(conn, 2, 1, datetime(2027, 1, 3, tzinfo=UTC), 293.5)
        want = captures(conn, "0006")
        want_rollups = rollups(conn, "0006")
    migrate.upgrade(engine_url, "0007")
    with psycopg.connect(info) as conn:
        assert captures(conn, "0007") == want
        assert rollups(conn, "0007") == want_rollups
        parts = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'capture'::regclass ORDER BY 1"
        ).fetchall()
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        moved = conn.execute("SELECT count(*) FROM capture_p202701").fetchone()
    assert moved == (1,)  # moved out of the default partition, where the mirror had put it
    assert [p[0] for p in parts] == [
        "capture_default", "capture_p202609", "capture_p202610", "capture_p202611",
        "capture_p202701",
    ]  # fmt: skip
    assert version == ("0007",)
