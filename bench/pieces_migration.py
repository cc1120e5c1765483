"""How long migration 0009 (left-closed pieces) takes on about a million captures, and its longest
transaction, with an old-version writer posting captures throughout.

Run: `.venv/bin/python -m bench.pieces_migration [--rooms 50] [--minutes 2]` (a few minutes).
Uses TEST_DATABASE_URL, Docker or the embedded PostgreSQL like the tests. Loads one month of
captures (rooms x one capture every `minutes`) into a monthly partition at revision 0008, builds
the right-closed pieces as the previous version keeps them (the migration's frozen downgrade
statements), then runs `migrate.upgrade` while a thread writes captures as an old pod does
(capture upsert, the trigger fires), then the (offline) downgrade. Prints a JSON line; nothing
is asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import statistics
import threading
import time
from datetime import timedelta
from types import ModuleType

import psycopg

from bench import lifecycle_report
from roomtemp.db import migrate
from tests.postgres_provider import libpq_conninfo, provide_database_url, sqlalchemy_url

START, END = lifecycle_report.START, lifecycle_report.END


def _migration() -> ModuleType:
    path = next(migrate.MIGRATIONS_DIR.glob("versions/*_rev0009_left_closed_pieces.py"))
    spec = importlib.util.spec_from_file_location("pieces_0009", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(conninfo: str, rooms: int, minutes: int) -> int:
    m0009 = _migration()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        lifecycle_report.seed_month(conn, rooms, minutes)
        # The previous version's right-closed pieces (0009's frozen downgrade statements).
        conn.execute(
            m0009.pieces_1h("capture_rollup_1h", "capture c", "true", "bucket", "roomtemp_bucket")
        )
        conn.execute(
            m0009.pieces_1d(
                "capture_rollup_1d", "capture_rollup_1h", "true", "bucket", "roomtemp_bucket"
            )
        )
        conn.execute("VACUUM ANALYZE")
        row = conn.execute("SELECT count(*) FROM capture").fetchone()
        return int(row[0]) if row else 0


class OldWriter(threading.Thread):
    """Upserts a capture every few ms as the previous version's ingest does (the trigger fires);
    records each write's latency."""

    def __init__(self, conninfo: str, rooms: int) -> None:
        super().__init__(daemon=True)
        self.conninfo, self.rooms = conninfo, rooms
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            k = 0
            while not self.stop.is_set():
                k += 1
                room = k % self.rooms + 1
                ts = START + timedelta(days=10, seconds=k * 7)
                began = time.monotonic()
                try:
                    conn.execute(
                        "INSERT INTO capture (ts, value, room_id, sensor_id) "
                        "VALUES (%s, 294.0, %s, %s) ON CONFLICT (room_id, sensor_id, ts) "
                        "DO UPDATE SET value = EXCLUDED.value",
                        (ts, room, room),
                    )
                except psycopg.Error as exc:  # after the swap: expected to stop
                    self.errors.append(type(exc).__name__)
                self.latencies.append(time.monotonic() - began)
                time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--minutes", type=int, default=2)
    args = parser.parse_args()
    logs: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("0009"):
                logs.append(record.getMessage())

    logging.getLogger("alembic.runtime.migration").addHandler(Keep())
    logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)
    with provide_database_url() as url:
        migrate.upgrade(url, "0008")
        conninfo = libpq_conninfo(sqlalchemy_url(url))
        rows = load(conninfo, args.rooms, args.minutes)
        writer = OldWriter(conninfo, args.rooms)
        writer.start()
        time.sleep(1)
        began = time.monotonic()
        migrate.upgrade(url)
        took = time.monotonic() - began
        writer.stop.set()
        writer.join()
        began = time.monotonic()
        migrate.downgrade(url, "0008")  # offline: one transaction, writers wait
        down = time.monotonic() - began
        lat = sorted(writer.latencies)
        print(
            json.dumps(
                {
                    "captures": rows,
                    "rooms": args.rooms,
                    "upgrade_seconds": round(took, 2),
                    "downgrade_seconds": round(down, 2),
                    "log": logs,
                    "old_writes": len(lat),
                    "old_write_median_ms": round(statistics.median(lat) * 1000, 2),
                    "old_write_max_ms": round(lat[-1] * 1000, 1),
                    "old_write_errors": sorted(set(writer.errors)),
                }
            )
        )


if __name__ == "__main__":
    main()
