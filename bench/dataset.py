"""The benchmark's data: rooms, a capture per room per minute loaded with binary COPY, a year of
history for the year views, rollups rebuilt as ingest would have written them, storage sizes."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.db import room_sensors
from roomtemp.db.driver import psycopg_sql
from roomtemp.partitions import service as partitions
from roomtemp.rollup import rebuild_queries
from tests.postgres_provider import sqlalchemy_url


class Dataset:
    def __init__(
        self, args: argparse.Namespace, conninfo: str, end: datetime, facts: dict[str, Any]
    ) -> None:
        self.args = args
        self.conninfo = conninfo
        self.end = end  # the newest minute loaded
        self.facts = facts

    def register_rooms(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO building (key, name) SELECT 'b' || b, 'b' || b "
                "FROM generate_series(0, %s - 1) b",
                [self.args.buildings],
            )
            per = max(1, self.args.rooms // self.args.buildings)
            conn.execute(
                "INSERT INTO room (building_id, key, name) "
                "SELECT b.id, 'r' || r, 'r' || r FROM generate_series(0, %s - 1) r "
                "JOIN building b ON b.key = 'b' || (r / %s)",
                [self.args.rooms, per],
            )
            # Each room's default temperature sensor (what the building/room form of ingest writes
            # to), as ingest would create it on first use.
            conn.execute(
                "INSERT INTO sensor (sensor_type_id, default_room_id) "
                "SELECT st.id, r.id FROM room r CROSS JOIN sensor_type st "
                "WHERE st.key = 'temperature' ORDER BY r.id"
            )
            conn.execute(
                "INSERT INTO sensor_assignment (valid_from, sensor_id, room_id) "
                "SELECT '-infinity', id, default_room_id FROM sensor"
            )
            conn.execute(room_sensors.RECORD_ALL)

    def copy_minutes(self, first: datetime, minutes: int) -> tuple[int, float]:
        """COPY (binary) one capture per room per minute from `first`; rows and seconds."""
        with psycopg.connect(self.conninfo) as conn:
            ids = [
                (r[0], r[1])
                for r in conn.execute(
                    "SELECT r.id, s.id FROM room r JOIN building b ON b.id = r.building_id "
                    "JOIN sensor s ON s.default_room_id = r.id "
                    "JOIN sensor_type st ON st.id = s.sensor_type_id AND st.key = 'temperature' "
                    "WHERE b.key LIKE 'b%%' ORDER BY r.id"
                )
            ]
            t0 = time.perf_counter()
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY capture (ts, value, room_id, sensor_id) FROM STDIN (FORMAT BINARY)"
                ) as cp,
            ):
                cp.set_types(["timestamptz", "float8", "int4", "int4"])
                for m in range(minutes):
                    ts = first + timedelta(minutes=m)
                    v = 293.15 + 3 * math.sin(m / 240)
                    for i, sensor in ids:
                        cp.write_row((ts, v + (i % 7) * 0.1, i, sensor))
            conn.commit()
            return minutes * len(ids), time.perf_counter() - t0

    def rebuild_rollups(self, start: datetime, end: datetime) -> float:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            t0 = time.perf_counter()
            for stmt in rebuild_queries.REBUILDS:
                conn.execute(psycopg_sql(stmt), {"start": start, "end": end})
            return time.perf_counter() - t0

    def load_history(self, newest_first: datetime, stage_first: datetime) -> None:
        """Building `hist` (Europe/Zurich): `--hist-rooms` rooms with a year of captures every
        `--hist-every` minutes up to the end, for the year views (bucket mode, local days).

        Loaded before the last stage's captures, so that stage's rollup rebuild covers the middle
        of the year; the rest is rebuilt here: before the stage, and the first stage's minutes
        (`newest_first` on), which no later rebuild touches.
        """
        a = self.args
        every = timedelta(minutes=a.hist_every)
        first = self.end - timedelta(days=365)
        with psycopg.connect(self.conninfo) as conn:
            conn.execute(
                "INSERT INTO building (key, name, time_zone) "
                "VALUES ('hist', 'a year of history', 'Europe/Zurich')"
            )
            conn.execute(
                "INSERT INTO room (building_id, key, name) SELECT b.id, 'h' || r, 'h' || r "
                "FROM generate_series(0, %s - 1) r CROSS JOIN building b WHERE b.key = 'hist'",
                [a.hist_rooms],
            )
            ids = [
                (r[0], r[1])
                for r in conn.execute(
                    "WITH s AS (INSERT INTO sensor (sensor_type_id, default_room_id) "
                    "SELECT st.id, r.id FROM room r JOIN building b ON b.id = r.building_id "
                    "CROSS JOIN sensor_type st WHERE b.key = 'hist' AND st.key = 'temperature' "
                    "RETURNING id, default_room_id), "
                    "a AS (INSERT INTO sensor_assignment (valid_from, sensor_id, room_id) "
                    "SELECT '-infinity', id, default_room_id FROM s) "
                    "SELECT default_room_id, id FROM s ORDER BY id"
                )
            ]
            conn.execute(room_sensors.RECORD_ALL)
            t0 = time.perf_counter()
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY capture (ts, value, room_id, sensor_id) FROM STDIN (FORMAT BINARY)"
                ) as cp,
            ):
                cp.set_types(["timestamptz", "float8", "int4", "int4"])
                ts, n = first, 0
                while ts <= self.end:
                    # a daily and a yearly swing, so buckets differ
                    v = 293.15 + 2 * math.sin(n * every / timedelta(days=1) * math.tau)
                    v += 4 * math.sin(n * every / timedelta(days=365) * math.tau)
                    for i, sensor in ids:
                        cp.write_row((ts, v + (i % 5) * 0.1, i, sensor))
                    ts, n = ts + every, n + 1
            conn.commit()
            rows, secs = n * len(ids), time.perf_counter() - t0
        rebuild = self.rebuild_rollups(first, stage_first)
        rebuild += self.rebuild_rollups(newest_first, self.end + timedelta(minutes=1))
        self.facts["history"] = {
            "rooms": a.hist_rooms, "every_minutes": a.hist_every, "rows": rows,
            "copy_seconds": round(secs, 2), "rollup_seconds": round(rebuild, 2),
        }  # fmt: skip
        print(f"history: COPY {rows} rows in {secs:.1f}s, rollups {rebuild:.1f}s", flush=True)

    def grow_to(self, total: int, loaded_minutes: int) -> int:
        """Add history before what is there until about `total` captures; minutes now loaded."""
        minutes: int = max(1, total // self.args.rooms)
        new = minutes - loaded_minutes
        if new <= 0:
            return loaded_minutes
        first = self.end - timedelta(minutes=minutes - 1)
        rows, secs = self.copy_minutes(first, new)
        self.facts.setdefault("copy_loads", []).append(
            {"rows": rows, "seconds": round(secs, 2), "rows_per_s": round(rows / secs)}
        )
        print(f"COPY {rows} rows in {secs:.1f}s ({rows / secs:.0f}/s)", flush=True)
        secs = self.rebuild_rollups(first, first + timedelta(minutes=new))
        self.facts.setdefault("rollup_rebuilds", []).append(
            {"rows": rows, "seconds": round(secs, 2)}
        )
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) capture")
            conn.execute("VACUUM (ANALYZE) capture_rollup_15m")
            conn.execute("VACUUM (ANALYZE) capture_rollup_1h")
            conn.execute("VACUUM (ANALYZE) capture_rollup_1d")
        return minutes

    def compact(self, url: str, label: str) -> None:
        """Compact the loaded partitions as `roomtemp maintain` compacts ended ones, then measure
        storage again (facts `storage_compacted`).

        First `roomtemp maintain` itself: it gives the rows in the default partition (those
        before this month) their own partitions and compacts the partitions that have ended;
        then VACUUM.
        Then partitions.service.compact, the function maintain calls, for the rest (this
        month's, not ended yet: `now` is put past them), which rebuilds each primary-key index
        at fillfactor 100 (REINDEX CONCURRENTLY)."""
        env = {**os.environ, "DATABASE_URL": url}
        subprocess.run(
            [sys.executable, "-m", "roomtemp", "maintain"], env=env, check=True,
        )  # fmt: skip
        # The rows moved out of the default partition leave its heap full of dead tuples until
        # a vacuum (autovacuum, in production) truncates it: not storage a capture keeps.
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) capture")
        t0 = time.perf_counter()
        done = asyncio.run(self._compact(url))
        seconds = round(time.perf_counter() - t0, 2)
        self.facts["compaction"] = {"label": label, "partitions": len(done), "seconds": seconds}
        print(f"compacted {len(done)} more partition(s) in {seconds} s", flush=True)
        self.storage(label, "storage_compacted")

    async def _compact(self, url: str) -> list[tuple[str, int, int]]:
        engine = create_async_engine(sqlalchemy_url(url).render_as_string(hide_password=False))
        try:
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                return await partitions.compact(conn, self.end + timedelta(days=3660), timedelta(0))
        finally:
            await engine.dispose()

    def storage(self, label: str, key: str = "storage") -> None:
        with psycopg.connect(self.conninfo) as conn:

            def size(rel: str, part: str = "pg_total_relation_size") -> int:
                # the table and, when it is partitioned, all its partitions
                assert part in ("pg_total_relation_size", "pg_table_size", "pg_indexes_size")
                row = conn.execute(
                    f"SELECT COALESCE(sum({part}(c.oid)), 0) FROM pg_class c "  # noqa: S608
                    "WHERE c.oid = %s::regclass "
                    "OR c.oid IN (SELECT relid FROM pg_partition_tree(%s::regclass))",
                    [rel, rel],
                ).fetchone()
                return int(row[0]) if row else 0

            n = conn.execute("SELECT count(*) FROM capture").fetchone()
            rollup_bytes = sum(
                size(t) for t in ("capture_rollup_15m", "capture_rollup_1h", "capture_rollup_1d")
            )
            count = int(n[0]) if n else 0
            self.facts.setdefault(key, []).append(
                {
                    "label": label,
                    "captures": count,
                    "capture_bytes": size("capture"),
                    "bytes_per_capture": round(size("capture") / max(count, 1), 1),
                    "heap_bytes_per_capture": round(
                        size("capture", "pg_table_size") / max(count, 1), 1
                    ),
                    "index_bytes_per_capture": round(
                        size("capture", "pg_indexes_size") / max(count, 1), 1
                    ),
                    "rollup_bytes": rollup_bytes,
                    "rollup_bytes_per_capture": round(rollup_bytes / max(count, 1), 1),
                }
            )
