"""Grouped period reports (group_by=day|week|month) over a year x N rooms: one statement per
period (main before this change) against one statement for all periods (now), same data, same
database, the rollup path (and optionally the raw path).

Run: `.venv/bin/python -m bench.report_groups [--rooms 500] [--minutes 15] [--runs 3]
[--before-runs 1] [--raw]`.
Loading a year of captures and rolling them up dominates (minutes). Uses TEST_DATABASE_URL or
the embedded PostgreSQL like the tests. Prints what it measured and writes
bench/results/report-groups-<stamp>.{json,md}; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.db import migrate, room_sensors
from roomtemp.report import service as report
from roomtemp.rollup import service as rollups
from tests.postgres_provider import libpq_conninfo, provide_database_url, sqlalchemy_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BEFORE = "5b65906"  # main before grouped reports became one statement
START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
#: (label, group_by, zone, use_rollups)
CASES: list[tuple[str, str | None, str | None, bool]] = [
    ("the year, no group_by", None, None, True),
    ("day, UTC", "day", "UTC", True),
    ("day, Europe/Zurich", "day", "Europe/Zurich", True),
    ("day, Asia/Kathmandu (+05:45)", "day", "Asia/Kathmandu", True),
    ("week, Europe/Zurich", "week", "Europe/Zurich", True),
    ("month, Europe/Zurich", "month", "Europe/Zurich", True),
]
Case = tuple[str, str | None, str | None, bool]
RAW_CASES: list[Case] = [("day, Europe/Zurich, raw captures", "day", "Europe/Zurich", False)]


def old_service(revision: str) -> ModuleType:
    """report/service.py and report/queries.py as they were at `revision`, imported under
    other names (the service made to use the old queries)."""
    folder = Path(tempfile.mkdtemp())

    def show(path: str) -> str:
        return subprocess.run(  # noqa: S603 - fixed git arguments
            ["git", "show", f"{revision}:{path}"],  # noqa: S607
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    (folder / "old_report_queries.py").write_text(show("service/roomtemp/report/queries.py"))
    service_source = (
        show("service/roomtemp/report/service.py")
        .replace("from roomtemp.report import queries\n", "import old_report_queries as queries\n")
        .replace("from roomtemp.report.queries import", "from old_report_queries import")
    )
    (folder / "old_report_service.py").write_text(service_source)
    sys.path.insert(0, str(folder))
    for name in ("old_report_queries", "old_report_service"):
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while it is executed
        spec.loader.exec_module(module)
    return sys.modules["old_report_service"]


def load(conninfo: str, rooms: int, minutes: int) -> int:
    """One building of `rooms` rooms, each with its default temperature sensor, a capture every
    `minutes` for the year (monthly partitions), inserted month by month."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("INSERT INTO building (key, name) VALUES ('big', 'big')")
        conn.execute(
            "INSERT INTO room (building_id, key, name) "
            "SELECT 1, 'r' || g, 'r' || g FROM generate_series(1, %s) g",
            (rooms,),
        )
        conn.execute(
            "INSERT INTO sensor (sensor_type_id, default_room_id) "
            "SELECT 1, id FROM room ORDER BY id"
        )
        conn.execute(
            "INSERT INTO sensor_assignment (valid_from, sensor_id, room_id) "
            "SELECT '-infinity', id, default_room_id FROM sensor"
        )
        conn.execute(room_sensors.RECORD_ALL)
        for month in range(1, 13):
            a = datetime(2026, month, 1, tzinfo=UTC)
            z = datetime(2027, 1, 1, tzinfo=UTC) if month == 12 else a.replace(month=month + 1)
            conn.execute(
                sql.SQL("CREATE TABLE {} PARTITION OF capture FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(f"capture_p{a:%Y%m}"), sql.Literal(a), sql.Literal(z)
                )
            )
            conn.execute(
                "INSERT INTO capture (ts, value, room_id, sensor_id) "
                "SELECT ts, 293 + 2 * sin(extract(epoch FROM ts) / 7200.0 + r) + random(), r, r "
                "FROM generate_series(1, %s) r, generate_series(%s::timestamptz, "
                "%s::timestamptz - interval '1 microsecond', make_interval(mins => %s)) ts",
                (rooms, a, z, minutes),
            )
            print(f"loaded {a:%Y-%m}", flush=True)
        conn.execute("VACUUM ANALYZE capture")
        row = conn.execute("SELECT count(*) FROM capture").fetchone()
        return int(row[0]) if row else 0


async def roll_up(url: str) -> None:
    engine = create_async_engine(url)
    try:
        for month in range(1, 13):  # a month per transaction: less to hold at once
            a = datetime(2026, month, 1, tzinfo=UTC)
            z = END if month == 12 else a.replace(month=month + 1)
            async with engine.begin() as conn:
                await rollups.rebuild(conn, a, z)
    finally:
        await engine.dispose()


async def time_report(
    url: str, module: Any, runs: int, group_by: str | None, zone: str | None, use_rollups: bool
) -> tuple[list[float], int]:
    """Seconds per run of the service call, and the sum of the periods' counts (a check that
    both versions answer the same)."""
    engine = create_async_engine(url)
    times = []
    total = 0
    try:
        for _ in range(runs):
            async with engine.connect() as conn:
                started = time.perf_counter()
                got = await module.building_report(
                    conn, "big", sensor_type="temperature", start=START, end=END,
                    unit="celsius", comfort_low=None, comfort_high=None,
                    default_comfort_celsius=(20.0, 24.0), use_rollups=use_rollups,
                    group_by=group_by, tz=zone,
                )  # fmt: skip
                times.append(round(time.perf_counter() - started, 3))
                if got.periods is None:
                    total = sum(r.count for r in got.rooms)
                else:
                    total = sum(r.count for p in got.periods for r in p.rooms.values())
    finally:
        await engine.dispose()
    return times, total


def write(doc: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    lines = [
        f"# Grouped period reports: {doc['rooms']} rooms x 2026 at {doc['interval_minutes']}-min "
        f"cadence ({doc['captures']:,} captures)",
        "",
        f"Run {doc['started']}; load average {doc['loadavg_at_start']} at start, "
        f"{doc['loadavg_at_end']} at end; {os.cpu_count()} cores shared with other work. "
        f"Before: {doc['before']}; after: this tree. Service call timed (SQL + Python).",
        "",
        "| report over 2026 | before runs (s) | before median | after runs (s) | after median "
        "| speed-up | same counts |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, r in doc["cases"].items():
        b, a = r["before"], r["after"]
        lines.append(
            f"| {label} | {', '.join(map(str, b['seconds']))} | {b['median_s']:.2f} "
            f"| {', '.join(map(str, a['seconds']))} | {a['median_s']:.2f} "
            f"| {b['median_s'] / a['median_s']:.1f}x | {b['count'] == a['count']} |"
        )
    lines += [
        "",
        f"Load {doc['load_seconds']:.0f} s, rollup rebuild {doc['rollup_seconds']:.0f} s.",
    ]
    md = "\n".join(lines) + "\n"
    out = RESULTS / f"report-groups-{stamp}"
    out.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    out.with_suffix(".md").write_text(md)
    return out.with_suffix(".md")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--minutes", type=int, default=15, help="capture interval")
    parser.add_argument("--runs", type=int, default=3, help="runs of the new statement")
    parser.add_argument(
        "--before-runs", type=int, default=1, help="runs of the old one (minutes at 500 rooms)"
    )
    parser.add_argument("--raw", action="store_true", help="also time the raw-capture path")
    parser.add_argument(
        "--before", default=BEFORE, help=f"the revision compared with (default {BEFORE})"
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    old = old_service(args.before)
    doc: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "rooms": args.rooms,
        "interval_minutes": args.minutes,
        "before": args.before,
        "cases": {},
    }
    with provide_database_url() as url:
        migrate.upgrade(url)
        conninfo = libpq_conninfo(sqlalchemy_url(url))
        started = time.perf_counter()
        doc["captures"] = load(conninfo, args.rooms, args.minutes)
        doc["load_seconds"] = time.perf_counter() - started
        print(f"loaded {doc['captures']:,} captures in {doc['load_seconds']:.0f} s", flush=True)
        started = time.perf_counter()
        asyncio.run(roll_up(url))
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for table in ("capture_rollup_1h", "capture_rollup_1d"):
                conn.execute(f"VACUUM ANALYZE {table}")
        doc["rollup_seconds"] = time.perf_counter() - started
        print(f"rolled up in {doc['rollup_seconds']:.0f} s", flush=True)
        for label, group_by, zone, use in CASES + (RAW_CASES if args.raw else []):
            result = {}
            # After first: the old statements take many minutes at 500 rooms (a run cut short
            # by a timeout still has the new figures).
            for side, module in (("after", report), ("before", old)):
                runs = (args.runs if side == "after" else args.before_runs) if use else 1
                times, count = asyncio.run(time_report(url, module, runs, group_by, zone, use))
                result[side] = {
                    "seconds": times,
                    "median_s": statistics.median(times),
                    "count": count,
                }
            doc["cases"][label] = result
            print(f"{label}: {result}", flush=True)
    doc["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if not args.no_write:
        print(f"wrote {write(doc)}")


if __name__ == "__main__":
    main()
