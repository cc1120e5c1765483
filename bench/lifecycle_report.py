"""Latency of the period report over a month x 500 rooms, and of `roomtemp import`.

Run: `.venv/bin/python -m bench.lifecycle_report [--rooms 500] [--minutes 5]` (a few minutes:
loading 4.5 million captures dominates). Uses TEST_DATABASE_URL, Docker or the embedded
PostgreSQL like the tests. Prints what it measured; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime

import psycopg
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.db import migrate
from roomtemp.report import service as report
from tests.postgres_provider import libpq_conninfo, provide_database_url, sqlalchemy_url

START, END = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)


def load(conninfo: str, rooms: int, minutes: int) -> int:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("INSERT INTO building (key, name) VALUES ('big', 'big')")
        conn.execute(
            "INSERT INTO room (building_id, key, name) "
            "SELECT 1, 'r' || g, 'r' || g FROM generate_series(1, %s) g",
            (rooms,),
        )
        conn.execute(
            "CREATE TABLE capture_p202610 PARTITION OF capture "
            "FOR VALUES FROM ('2026-10-01 00:00+00') TO ('2026-11-01 00:00+00')"
        )
        conn.execute(
            "INSERT INTO capture (ts, value, room_id, sensor_type_id) "
            "SELECT ts, 293 + 2 * sin(extract(epoch FROM ts) / 7200.0 + r) + random(), r, 1 "
            "FROM generate_series(1, %s) r, generate_series(%s::timestamptz, "
            "%s::timestamptz - interval '1 microsecond', make_interval(mins => %s)) ts",
            (rooms, START, END, minutes),
        )
        conn.execute("VACUUM ANALYZE capture")
        row = conn.execute("SELECT count(*) FROM capture").fetchone()
        return int(row[0]) if row else 0


async def time_report(url: str, runs: int) -> list[float]:
    engine = create_async_engine(url)
    times = []
    try:
        for _ in range(runs):
            async with engine.connect() as conn:
                started = time.perf_counter()
                await report.building_report(
                    conn, "big", "temperature", START, END, "celsius", None, None, (20.0, 24.0)
                )
                times.append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--minutes", type=int, default=5, help="capture interval")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with provide_database_url() as url:
        migrate.upgrade(url)
        started = time.perf_counter()
        rows = load(libpq_conninfo(sqlalchemy_url(url)), args.rooms, args.minutes)
        print(f"loaded {rows} captures in {time.perf_counter() - started:.1f} s")
        times = asyncio.run(time_report(url, args.runs))
        print(
            f"report, {args.rooms} rooms x October: "
            + ", ".join(f"{t:.2f}" for t in times)
            + f" s (median {statistics.median(times):.2f} s)"
        )


if __name__ == "__main__":
    main()
