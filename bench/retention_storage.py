"""Storage with raw captures kept 90 days against everything raw, rollups kept (issue 23).

Run: `.venv/bin/python -m bench.retention_storage [--rooms 10] [--minutes 5]` (a few minutes).
Seeds `rooms` rooms with one capture every `minutes` over a year (2025-11-22 to 2026-11-22, in
monthly partitions, rolled up as an import would), measures pg_total_relation_size of the
capture partitions and of each rollup table, runs `roomtemp maintain` with RETENTION_DAYS=90
(rollups kept forever) and measures again; checks every rollup row is byte-identical after the
drop (md5 of the ordered row texts). The figures scale to one capture a minute: raw bytes grow
with the capture rate, the rollup tables hold one row per (room, bucket) whatever the rate.
Uses BENCH_DATABASE_URL or the embedded PostgreSQL; writes bench/results/retention-<stamp>.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import create_async_engine

from bench.run import database, machine, write_results
from roomtemp.db import migrate, room_sensors
from roomtemp.partitions import service as partitions
from roomtemp.rollup import service as rollups
from tests.postgres_provider import libpq_conninfo, sqlalchemy_url

START, END = datetime(2025, 11, 22, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)
RESULTS = Path(__file__).resolve().parent / "results"
ROLLUPS = ("capture_rollup_15m", "capture_rollup_1h", "capture_rollup_1d")
KEYS = {"capture_rollup_15m": "bucket", "capture_rollup_1h": "start", "capture_rollup_1d": "start"}


def seed(conn: psycopg.Connection[Any], rooms: int, minutes: int) -> None:
    conn.execute("INSERT INTO building (key, name) VALUES ('big', 'big')")
    conn.execute(
        "INSERT INTO room (building_id, key, name) "
        "SELECT 1, 'r' || g, 'r' || g FROM generate_series(1, %s) g",
        (rooms,),
    )
    month = START.replace(day=1)
    while month < END:
        nxt = month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)
        conn.execute(
            f"CREATE TABLE capture_p{month:%Y%m} PARTITION OF capture "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{nxt.isoformat()}')"
        )
        month = nxt
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
        "SELECT ts, round(CAST(293 + 2 * sin(extract(epoch FROM ts) / 7200.0 + r) + random() "
        "AS numeric), 2), r, r FROM generate_series(1, %s) r, generate_series(%s::timestamptz, "
        "%s::timestamptz - interval '1 microsecond', make_interval(mins => %s)) ts",
        (rooms, START, END, minutes),
    )


def sizes(conn: psycopg.Connection[Any]) -> dict[str, int]:
    conn.execute("VACUUM ANALYZE")
    out: dict[str, int] = {}
    for rel in ("capture", *ROLLUPS):
        row = conn.execute(
            # A partitioned table's size is its partitions'; a plain table has no partition tree.
            "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "WHERE c.oid = %s::regclass "
            "OR c.oid IN (SELECT relid FROM pg_partition_tree(%s::regclass))",
            [rel, rel],
        ).fetchone()
        out[rel] = int(row[0]) if row else 0
    for rel in ("capture", *ROLLUPS):
        row = conn.execute(f"SELECT count(*) FROM {rel}").fetchone()  # noqa: S608
        out[f"{rel}_rows"] = int(row[0]) if row else 0
    return out


def digest(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """md5 of every rollup table's row texts in key order."""
    out = {}
    for table, key in KEYS.items():
        row = conn.execute(
            f"SELECT md5(string_agg(CAST(x AS text), '|' ORDER BY room_id, sensor_id, {key})) "  # noqa: S608
            f"FROM {table} x"
        ).fetchone()
        out[table] = str(row[0]) if row else ""
    return out


async def roll_up(url: str) -> float:
    engine = create_async_engine(url)
    try:
        started = time.perf_counter()
        async with engine.begin() as conn:
            await rollups.rebuild(conn, START, END)
        return time.perf_counter() - started
    finally:
        await engine.dispose()


async def maintain(url: str) -> tuple[partitions.MaintainReport, float]:
    engine = create_async_engine(url)
    try:
        started = time.perf_counter()
        async with engine.begin() as conn:
            report = await partitions.maintain(
                conn, END, interval="month", ahead=0, retention_days=90, rollup_retention_days={}
            )
        return report, time.perf_counter() - started
    finally:
        await engine.dispose()


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def text_of(doc: dict[str, Any]) -> str:
    before, after, rate = doc["before"], doc["after"], doc["scale_to_per_minute"]
    rollup_bytes = sum(after[t] for t in ROLLUPS)
    lines = [
        f"# Storage: raw 90 days vs everything raw, {doc['rooms']} rooms x 1 year, "
        f"a capture every {doc['minutes']} min",
        "",
        f"Run {doc['started']} on {doc['machine']['cores']} cores; load {doc['load']}. Raw "
        f"captures are kept from {doc['raw_from']} (monthly partitions: the month holding "
        "now - 90 days stays whole).",
        "",
        "| | everything raw | raw 90 days, rollups kept |",
        "|---|---|---|",
        f"| captures | {before['capture_rows']:,} rows, {_mb(before['capture'])} "
        f"| {after['capture_rows']:,} rows, {_mb(after['capture'])} |",
    ]
    for t in ROLLUPS:
        lines.append(
            f"| {t} | {before[f'{t}_rows']:,} rows, {_mb(before[t])} "
            f"| {after[f'{t}_rows']:,} rows, {_mb(after[t])} |"
        )
    total_b = before["capture"] + sum(before[t] for t in ROLLUPS)
    total_a = after["capture"] + rollup_bytes
    lines += [
        f"| total | {_mb(total_b)} | {_mb(total_a)} |",
        "",
        f"Scaled to one capture a minute (raw bytes x {rate}, rollups unchanged): everything "
        f"raw {_mb(before['capture'] * rate + sum(before[t] for t in ROLLUPS))}, raw 90 days "
        f"{_mb(after['capture'] * rate + rollup_bytes)}; per room and year "
        f"{_mb((before['capture'] * rate + sum(before[t] for t in ROLLUPS)) / doc['rooms'])} "
        f"vs {_mb((after['capture'] * rate + rollup_bytes) / doc['rooms'])}.",
        "",
        f"Rollup rebuild of the year: {doc['rollup_seconds']:.1f} s; maintain (dropping "
        f"{len(doc['dropped'])} partitions): {doc['maintain_seconds']:.2f} s. Every rollup row "
        f"byte-identical after the drop: {doc['rollups_unchanged']}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rooms", type=int, default=10)
    p.add_argument("--minutes", type=int, default=5)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    started = datetime.now(UTC)
    with database() as raw_url:
        url = sqlalchemy_url(raw_url).render_as_string(hide_password=False)
        migrate.upgrade(url)
        conninfo = libpq_conninfo(sqlalchemy_url(url))
        with psycopg.connect(conninfo, autocommit=True) as conn:
            seed(conn, args.rooms, args.minutes)
        rollup_seconds = asyncio.run(roll_up(url))
        with psycopg.connect(conninfo, autocommit=True) as conn:
            before, kept = sizes(conn), digest(conn)
        report, maintain_seconds = asyncio.run(maintain(url))
        with psycopg.connect(conninfo, autocommit=True) as conn:
            after, left = sizes(conn), digest(conn)
    doc = {
        "started": started.isoformat(),
        "machine": machine(),
        "load": [round(x, 2) for x in os.getloadavg()],
        "rooms": args.rooms,
        "minutes": args.minutes,
        "scale_to_per_minute": args.minutes,
        "before": before,
        "after": after,
        "dropped": [n for n, _ in report.dropped],
        "raw_from": report.horizons["raw"].isoformat(),
        "rollup_seconds": rollup_seconds,
        "maintain_seconds": maintain_seconds,
        "rollups_unchanged": kept == left,
    }
    text = text_of(doc)
    print(text)
    stamp = started.strftime("%Y%m%dT%H%M%S")
    write_results(args.out, f"retention-{stamp}", doc, text)
    write_results(args.out, "retention-latest", doc, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
