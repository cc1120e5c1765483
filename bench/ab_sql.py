"""The read statements before and after a schema change, timed A/B interleaved on the same data.

bench.compare runs two whole benchmarks one after the other; on a shared 2-core machine their
HTTP figures drift with whatever else runs (issue 15: the same unchanged code measured 1.66x
faster in one run than in the other). This measures what changed, the SQL, so that drift
cancels: one PostgreSQL, database A filled at the old schema and database B made from it
(CREATE DATABASE ... TEMPLATE) and migrated to head, so both hold the same captures; each
statement of the old revision (read from git) runs on A and the current one on B in
alternation, the order flipped every round, and the medians are compared.

    python -m bench.ab_sql                        # 1 M captures (500 rooms x 2,000 minutes)
    python -m bench.ab_sql --minutes 200 --rounds 50   # smoke

Writes bench/results/ab-sql-<stamp>.{json,md}. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
from sqlalchemy import TextClause

from roomtemp.average import overview_queries as new_overview
from roomtemp.average import queries as new_queries
from roomtemp.db import migrate
from roomtemp.db.driver import psycopg_sql
from tests.postgres_provider import libpq_conninfo, provide_database_url, sqlalchemy_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BEFORE = "c7f6d23"  # main just before the sensor schema (migration 0007)
OLD_HEAD = "0006"  # that revision's newest migration
QUARTER = timedelta(minutes=15)


def old_queries(revision: str) -> ModuleType:
    """average/queries.py as it was at `revision`, imported under another name."""
    source = subprocess.run(  # noqa: S603 - fixed git arguments
        ["git", "show", f"{revision}:service/roomtemp/average/queries.py"],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "old_average_queries.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_average_queries", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it is executed
    spec.loader.exec_module(module)
    return module


def fill_old_schema(conninfo: str, rooms: int, minutes: int, end: datetime) -> int:
    """One capture a minute per room up to `end`, inserted room by room (so the table is
    clustered by room as the migration's per-room copy leaves B), and the 15-minute rollups."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO building (key, name) SELECT 'b' || g, 'b' || g "
            "FROM generate_series(0, %s) g",
            ((rooms - 1) // 500,),
        )
        conn.execute(
            "INSERT INTO room (building_id, key, name) "
            "SELECT 1 + (g - 1) / 500, 'r' || g, 'r' || g FROM generate_series(1, %s) g",
            (rooms,),
        )
        conn.execute(
            "INSERT INTO capture (ts, value, room_id, sensor_type_id) "
            "SELECT %s - m * interval '1 minute', 293 + sin(m / 60.0 + r) + random(), r, 1 "
            "FROM generate_series(1, %s) r, generate_series(0, %s - 1) m ORDER BY r, m DESC",
            (end, rooms, minutes),
        )
        conn.execute(
            "INSERT INTO capture_rollup_15m (bucket, sum, min, max, count, room_id, "
            "sensor_type_id) SELECT roomtemp_bucket(ts, interval '15 minutes') AS b, sum(value), "
            "min(value), max(value), count(*), room_id, sensor_type_id FROM capture "
            "GROUP BY room_id, sensor_type_id, b ORDER BY room_id, sensor_type_id, b"
        )
        row = conn.execute("SELECT count(*) FROM capture").fetchone()
        return int(row[0]) if row else 0


def vacuum(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def cases(old: ModuleType, end: datetime) -> dict[str, tuple[TextClause, TextClause, Any]]:
    """name -> (old statement, new statement, params for one room id)."""
    window = {"start": end - timedelta(minutes=15), "end": end}

    def series(span: timedelta) -> dict[str, Any]:
        return {
            "first": end - span + timedelta(minutes=15),
            "last": end,
            "step": timedelta(minutes=15),
            "window": timedelta(minutes=15),
        }

    return {
        "latest": (old._WINDOW, new_queries._WINDOW, window),
        # An old revision has the overview in its queries.py (before overview_queries.py split off).
        "overview (500 rooms)": (old._OVERVIEW, new_overview._OVERVIEW, window),
        "series 24 h raw": (old._SERIES, new_queries._SERIES, series(timedelta(hours=24))),
        "series 24 h 15-min rollups": (
            old.SERIES_15M,
            new_queries.SERIES_15M,
            series(timedelta(hours=24)),
        ),
        "series 30 d 15-min rollups": (
            old.SERIES_15M,
            new_queries.SERIES_15M,
            series(timedelta(days=30)),
        ),
        # What the API runs when window = step = 15 minutes (the bench's series scenarios).
        "series 24 h one 15-min bucket per point": (
            old.BUCKET_SERIES[QUARTER],
            new_queries.ROOM_SERIES.bucket[QUARTER],
            series(timedelta(hours=24)),
        ),
        "series 30 d one 15-min bucket per point": (
            old.BUCKET_SERIES[QUARTER],
            new_queries.ROOM_SERIES.bucket[QUARTER],
            series(timedelta(days=30)),
        ),
    }


def timed(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any]) -> float:
    t0 = time.perf_counter()
    conn.execute(sql, params).fetchall()
    return time.perf_counter() - t0


def run(args: argparse.Namespace) -> dict[str, Any]:
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    old = old_queries(args.before)
    with provide_database_url() as url_a:
        a = libpq_conninfo(sqlalchemy_url(url_a))
        migrate.upgrade(url_a, OLD_HEAD)
        t0 = time.perf_counter()
        captures = fill_old_schema(a, args.rooms, args.minutes, end)
        print(f"loaded {captures:,} captures at {OLD_HEAD} in {time.perf_counter() - t0:.0f} s")
        url_b = sqlalchemy_url(url_a).set(database=f"{sqlalchemy_url(url_a).database}_b")
        b = libpq_conninfo(url_b)
        with psycopg.connect(a, autocommit=True, dbname="postgres") as admin:
            admin.execute(
                f'CREATE DATABASE "{url_b.database}" TEMPLATE "{sqlalchemy_url(url_a).database}"'
            )
        try:
            t0 = time.perf_counter()
            migrate.upgrade(url_b.render_as_string(hide_password=False))
            print(f"B migrated to head in {time.perf_counter() - t0:.0f} s")
            vacuum(a)
            vacuum(b)
            results = measure(a, b, cases(old, end), args)
        finally:
            with psycopg.connect(a, autocommit=True, dbname="postgres") as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{url_b.database}" WITH (FORCE)')
    return {
        "started": end.isoformat(),
        "before": args.before,
        "after": _git("rev-parse", "--short", "HEAD"),
        "captures": captures,
        "rooms": args.rooms,
        "rounds": args.rounds,
        "loadavg": os.getloadavg(),
        "results": results,
    }


def measure(
    a: str,
    b: str,
    statements: dict[str, tuple[TextClause, TextClause, Any]],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    rng = random.Random(15)  # noqa: S311 - room choice, not security
    out = []
    with psycopg.connect(a, autocommit=True) as ca, psycopg.connect(b, autocommit=True) as cb:
        for name, (old_stmt, new_stmt, extra) in statements.items():
            old_sql, new_sql = psycopg_sql(old_stmt), psycopg_sql(new_stmt)
            ta: list[float] = []
            tb: list[float] = []
            for i in range(args.rounds + 5):
                room = rng.randrange(args.rooms) + 1
                params = {"room_id": room, "building_id": 1, "sensor_type_id": 1, **extra}
                pair = [(ca, old_sql, ta), (cb, new_sql, tb)]
                if i % 2:
                    pair.reverse()
                for conn, sql, into in pair:
                    elapsed = timed(conn, sql, params)
                    if i >= 5:  # the first rounds warm caches and plans
                        into.append(elapsed)
            ma, mb = statistics.median(ta), statistics.median(tb)
            row = {
                "statement": name,
                "before_median_ms": round(ma * 1000, 4),
                "after_median_ms": round(mb * 1000, 4),
                "after_over_before": round(mb / ma, 3),
                "before_p90_ms": round(statistics.quantiles(ta, n=10)[-1] * 1000, 4),
                "after_p90_ms": round(statistics.quantiles(tb, n=10)[-1] * 1000, 4),
            }
            print(json.dumps(row), flush=True)
            out.append(row)
    return out


def _git(*args: str) -> str:
    return subprocess.run(  # noqa: S603 - fixed git arguments
        ["git", *args],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def markdown(doc: dict[str, Any]) -> str:
    lines = [
        f"# Read statements A/B, {doc['started'][:16].replace('T', ' ')} UTC",
        "",
        f"Before `{doc['before']}` (schema {OLD_HEAD}) on database A, "
        f"after `{doc['after']}` (head) "
        f"on database B made from A by the migration: {doc['captures']:,} captures, "
        f"{doc['rooms']} rooms. {doc['rounds']} rounds, A and B alternating (order flipped each "
        f"round), client-side wall time of execute + fetch. Load average at the end "
        f"{[round(x, 2) for x in doc['loadavg']]}.",
        "",
        "| statement | before median ms | after median ms | after / before | p90 before → after |",
        "|---|---|---|---|---|",
    ]
    for r in doc["results"]:
        lines.append(
            f"| {r['statement']} | {r['before_median_ms']:.3f} | {r['after_median_ms']:.3f} | "
            f"{r['after_over_before']:.2f} | {r['before_p90_ms']:.3f} → {r['after_p90_ms']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--minutes", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    doc = run(args)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"ab-sql-{stamp}.json").write_text(json.dumps(doc, indent=2) + "\n")
    (args.out / f"ab-sql-{stamp}.md").write_text(markdown(doc))
    print(markdown(doc))
    print(f"wrote {args.out / f'ab-sql-{stamp}.md'}")


if __name__ == "__main__":
    main()
