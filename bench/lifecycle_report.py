"""Latency of the period report over a month x 500 rooms, from rollups and from raw captures.

Run: `.venv/bin/python -m bench.lifecycle_report [--rooms 500] [--minutes 5]` (a few minutes:
loading 4.5 million captures and rolling them up dominates). Uses TEST_DATABASE_URL, Docker or
the embedded PostgreSQL like the tests. Prints what it measured and writes it to
bench/results/report-<stamp>.{json,md} and report-latest.{json,md}; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.db import migrate, room_sensors
from roomtemp.report import service as report
from roomtemp.rollup import service as rollups
from tests.postgres_provider import libpq_conninfo, provide_database_url, sqlalchemy_url

START, END = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
RESULTS = Path(__file__).resolve().parent / "results"
ROLLUPS = ("capture_rollup_15m", "capture_rollup_1h", "capture_rollup_1d")


def seed_month(conn: psycopg.Connection[Any], rooms: int, minutes: int) -> None:
    """Building `big`: `rooms` rooms, each with a capture every `minutes` over October 2026 in
    its own partition (also bench/pieces_migration.py's data)."""
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
    # Each room's default temperature sensor (sensor id = room id), as ingest creates it.
    conn.execute(
        "INSERT INTO sensor (sensor_type_id, default_room_id) SELECT 1, id FROM room ORDER BY id"
    )
    conn.execute(
        "INSERT INTO sensor_assignment (valid_from, sensor_id, room_id) "
        "SELECT '-infinity', id, default_room_id FROM sensor"
    )
    conn.execute(room_sensors.RECORD_ALL)
    conn.execute(
        "INSERT INTO capture (ts, value, room_id, sensor_id) "
        "SELECT ts, 293 + 2 * sin(extract(epoch FROM ts) / 7200.0 + r) + random(), r, r "
        "FROM generate_series(1, %s) r, generate_series(%s::timestamptz, "
        "%s::timestamptz - interval '1 microsecond', make_interval(mins => %s)) ts",
        (rooms, START, END, minutes),
    )


def load(conninfo: str, rooms: int, minutes: int) -> int:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        seed_month(conn, rooms, minutes)
        conn.execute("VACUUM ANALYZE capture")
        row = conn.execute("SELECT count(*) FROM capture").fetchone()
        return int(row[0]) if row else 0


async def roll_up(url: str) -> None:
    """Captures loaded around ingest: the rollups are rebuilt as the importer would."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await rollups.rebuild(conn, START, END)
    finally:
        await engine.dispose()


def sizes(conninfo: str) -> dict[str, int]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for table in ROLLUPS:
            conn.execute(f"VACUUM ANALYZE {table}")
        out = {}
        for rel in ("capture", *ROLLUPS):
            row = conn.execute(
                "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "WHERE c.oid = %s::regclass "
                "OR c.oid IN (SELECT relid FROM pg_partition_tree(%s::regclass))",
                [rel, rel],
            ).fetchone()
            out[rel] = int(row[0]) if row else 0
        for table in ROLLUPS:
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
            out[f"{table}_rows"] = int(row[0]) if row else 0
        return out


async def time_report(
    url: str, runs: int, use_rollups: bool, start: datetime = START, end: datetime = END
) -> list[float]:
    engine = create_async_engine(url)
    times = []
    try:
        for _ in range(runs):
            async with engine.connect() as conn:
                started = time.perf_counter()
                await report.building_report(
                    conn, "big", sensor_type="temperature", start=start, end=end,
                    unit="celsius", comfort_low=None, comfort_high=None,
                    default_comfort_celsius=(20.0, 24.0), use_rollups=use_rollups,
                )  # fmt: skip
                times.append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    return times


def write(doc: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    lines = [
        f"# Period report: {doc['rooms']} rooms x October 2026 ({doc['captures']:,} captures)",
        "",
        f"Run {doc['started']}; load average {doc['loadavg_at_start']} at start, "
        f"{doc['loadavg_at_end']} at end; {os.cpu_count()} cores.",
        "",
        "| report | runs (s) | median (s) |",
        "|---|---|---|",
    ]
    for label, times in doc["report_seconds"].items():
        lines.append(
            f"| {label} | {', '.join(f'{t:.3f}' for t in times)} | {statistics.median(times):.3f} |"
        )
    s = doc["storage_bytes"]
    lines += [
        "",
        f"Rollup rebuild of the month: {doc['rollup_rebuild_seconds']:.1f} s.",
        "",
        "| relation | bytes | bytes per capture | rows |",
        "|---|---|---|---|",
    ]
    for rel in ("capture", *ROLLUPS):
        rows = s.get(f"{rel}_rows", doc["captures"])
        lines.append(f"| {rel} | {s[rel]:,} | {s[rel] / doc['captures']:.1f} | {rows:,} |")
    md = "\n".join(lines) + "\n"
    for name in (f"report-{stamp}", "report-latest"):
        (RESULTS / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
        (RESULTS / f"{name}.md").write_text(md)
    return RESULTS / f"report-{stamp}.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--minutes", type=int, default=5, help="capture interval")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    doc: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "rooms": args.rooms,
        "interval_minutes": args.minutes,
    }
    with provide_database_url() as url:
        migrate.upgrade(url)
        conninfo = libpq_conninfo(sqlalchemy_url(url))
        started = time.perf_counter()
        doc["captures"] = rows = load(conninfo, args.rooms, args.minutes)
        print(f"loaded {rows} captures in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        asyncio.run(roll_up(url))
        doc["rollup_rebuild_seconds"] = time.perf_counter() - started
        print(f"rolled up in {doc['rollup_rebuild_seconds']:.1f} s")
        doc["storage_bytes"] = sizes(conninfo)
        unaligned = (START + timedelta(hours=3, minutes=7), END - timedelta(hours=5, minutes=31))
        doc["report_seconds"] = {
            "from rollups": asyncio.run(time_report(url, args.runs, True)),
            "from rollups, unaligned period (raw edges)": asyncio.run(
                time_report(url, args.runs, True, *unaligned)
            ),
            "from raw captures (before)": asyncio.run(time_report(url, args.runs, False)),
        }
    doc["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    for label, times in doc["report_seconds"].items():
        print(
            f"report {label}, {args.rooms} rooms x October: "
            + ", ".join(f"{t:.3f}" for t in times)
            + f" s (median {statistics.median(times):.3f} s)"
        )
    s = doc["storage_bytes"]
    for rel in ("capture", *ROLLUPS):
        print(f"{rel}: {s[rel]:,} bytes, {s[rel] / rows:.1f} bytes per capture")
    if not args.no_write:
        print(f"wrote {write(doc)}")


if __name__ == "__main__":
    main()
