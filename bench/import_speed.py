"""Import speed: the staged COPY load against the API's one-statement upsert, per chunk size.

    python -m bench.import_speed                       # (make bench-import) 1k, 10k, 50k rows
    python -m bench.import_speed --rows 20000 --chunks 1000,10000 --out /tmp/b

Against a durable local PostgreSQL (as bench.run; BENCH_DATABASE_URL to use another server),
for each chunk size and both ways of storing a chunk (`staged`: binary COPY into a temporary
table + one INSERT … SELECT; `statement`: the API's unnest upsert):
  store  capture.service.ingest on parsed captures (validation + database): new rows (all
         inserted), the same rows again (all duplicates), then changed values (all updated);
         also rows/s over the time in the upsert and rollup calls alone (`db`), the part
         that differs between the paths
  file   importer.import_records on a generated CSV: read + parse + validate + store, end to end
Before that, --preload captures of 500 other rooms are stored over the same time range, so
lookups and inserts meet a table that is not empty. Also measured: the cost of the
transaction-local staging table alone, and the rollup refresh of a chunk with one key per
capture against one key per 15-minute bucket. Prints a table and writes
bench/results/import-<stamp>.json. Nothing is asserted: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.run import ROOT, database, machine
from roomtemp.capture import queries as capture_queries
from roomtemp.capture import service as capture
from roomtemp.capture.schemas import CaptureIn
from roomtemp.clock import system_clock
from roomtemp.db import migrate, room_sensors
from roomtemp.importer import service as importer
from roomtemp.importer.source import open_source
from roomtemp.rollup import service as rollups
from tests.postgres_provider import sqlalchemy_url

ROOMS = 50
T = TypeVar("T")
PATHS = ("statement", "staged")


def policy(chunk: int) -> capture.IngestPolicy:
    return capture.IngestPolicy(
        auto_register=True, max_batch_size=chunk, max_future_skew=timedelta(minutes=5)
    )


def captures(start: datetime, rows: int, shift: float = 0.0) -> list[CaptureIn]:
    """`rows` readings, a minute apart per room, time-major like an export."""
    return [
        CaptureIn(
            building="bench",
            room=f"r{n % ROOMS:03d}",
            value=19 + (n // ROOMS % 600) / 100 + shift,
            unit="celsius",
            ts=(start + timedelta(minutes=n // ROOMS)).isoformat(),
        )
        for n in range(rows)
    ]


class DatabaseTime:
    """Seconds spent in the functions that differ between the two paths: the upsert query
    and the rollup refresh (wrapped where capture.service looks them up)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        for module, name in (
            (capture_queries, "upsert_captures"),
            (capture_queries, "upsert_captures_copy"),
            (rollups, "captures_changed"),
        ):
            setattr(module, name, self._timed(getattr(module, name)))

    def _timed(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        async def timed(*args: Any, **kwargs: Any) -> T:
            t0 = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0

        return timed


async def store(
    engine: AsyncEngine, items: list[CaptureIn], chunk: int, staged: bool, db: DatabaseTime
) -> tuple[float, float, capture.IngestCounts]:
    """Seconds in all, seconds in the database functions, and the counts."""
    ins = dup = upd = 0
    db0 = db.seconds
    t0 = time.perf_counter()
    for i in range(0, len(items), chunk):
        async with engine.begin() as conn:
            c = await capture.ingest(
                conn,
                capture.ParsedBatch(items[i : i + chunk]),
                policy=policy(chunk),
                now=system_clock(),
                storage=capture.Storage.COPY if staged else capture.Storage.UPSERT,
            )
        ins, dup, upd = ins + c.inserted, dup + c.duplicates, upd + c.updated
    return time.perf_counter() - t0, db.seconds - db0, capture.IngestCounts(ins, dup, upd)


def write_file(path: Path, start: datetime, rows: int) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "building", "room", "value", "unit"])
        for n in range(rows):
            ts = (start + timedelta(minutes=n // ROOMS)).isoformat()
            w.writerow([ts, "bench", f"r{n % ROOMS:03d}", 19 + (n // ROOMS % 600) / 100, "celsius"])


async def import_file(engine: AsyncEngine, path: Path, chunk: int, staged: bool) -> float:
    t0 = time.perf_counter()
    with open_source(str(path)) as source:
        totals = await importer.import_records(
            engine,
            source.records,
            policy=policy(chunk),
            clock=system_clock,
            chunk_size=chunk,
            staged=staged,
        )
    seconds = time.perf_counter() - t0
    if totals.inserted != totals.rows:
        raise RuntimeError(f"expected {totals.rows} new rows, got {totals}")
    return seconds


def parse_only(rows: int, start: datetime) -> float:
    """Rows/s of reading and parsing a CSV into captures (no database): the importer's
    Python work before ingest, a ceiling for the file path."""
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "parse.csv"
        write_file(f, start, rows)
        t0 = time.perf_counter()
        with open_source(str(f)) as source:
            for chunk, _ in importer._chunks(source.records, 10_000):
                importer._parse(chunk)
        return round(rows / (time.perf_counter() - t0))


async def staging_cost(engine: AsyncEngine, n: int) -> dict[str, float]:
    """Milliseconds per transaction: empty, and with the staging table created and dropped."""
    out: dict[str, float] = {}
    for label, stmts in (
        ("empty_transaction_ms", [text("SELECT 1")]),
        ("with_staging_table_ms", [capture_queries._STAGE, capture_queries._DROP_STAGE]),
    ):
        t0 = time.perf_counter()
        for _ in range(n):
            async with engine.begin() as conn:
                for s in stmts:
                    await conn.execute(s)
        out[label] = round((time.perf_counter() - t0) * 1000 / n, 3)
    out["staging_table_ms"] = round(out["with_staging_table_ms"] - out["empty_transaction_ms"], 3)
    return out


async def rollup_keys(engine: AsyncEngine, start: datetime, rows: int) -> dict[str, float]:
    """Seconds to refresh the rollups of `rows` stored captures from per-capture keys and from
    per-bucket keys (rolled back; both recompute the same buckets)."""
    async with engine.connect() as conn:
        keys = [
            (r, s, t)
            for r, s, t in await conn.execute(
                text(
                    "SELECT c.room_id, c.sensor_id, c.ts FROM capture c "
                    "JOIN room r ON r.id = c.room_id JOIN building b ON b.id = r.building_id "
                    "WHERE b.key = 'bench' AND c.ts >= :a ORDER BY c.ts, c.room_id LIMIT :n"
                ),
                {"a": start, "n": rows},
            )
        ]
        buckets = sorted(
            {
                (r, s, t)
                for r, s, t in await conn.execute(
                    text(
                        "SELECT DISTINCT room_id, sensor_id, "
                        "roomtemp_bucket(ts, interval '15 minutes') FROM capture "
                        "WHERE (room_id, sensor_id, ts) IN "
                        "(SELECT * FROM unnest(CAST(:r AS int[]), CAST(:s AS int[]), "
                        "CAST(:t AS timestamptz[])))"
                    ),
                    {
                        "r": [k[0] for k in keys],
                        "s": [k[1] for k in keys],
                        "t": [k[2] for k in keys],
                    },
                )
            }
        )
        await conn.rollback()
        out: dict[str, float] = {"keys": len(keys), "buckets": len(buckets)}
        for label, ks in (("per_capture_s", sorted(keys)), ("per_bucket_s", buckets)):
            t0 = time.perf_counter()
            await rollups.captures_changed(conn, ks)
            await conn.rollback()
            out[label] = round(time.perf_counter() - t0, 4)
    return out


async def preload(
    engine: AsyncEngine, start: datetime, span: timedelta, rows: int
) -> dict[str, float]:
    """About `rows` captures of 500 other rooms, evenly over [start, start + span)."""
    rooms = 500
    step = span / max(rows // rooms, 1)
    t0 = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO building (key, name) VALUES ('pre', 'pre')"))
        await conn.execute(
            text(
                "INSERT INTO room (building_id, key, name) SELECT b.id, 'p' || g, 'p' || g "
                "FROM building b, generate_series(1, :n) g WHERE b.key = 'pre'"
            ),
            {"n": rooms},
        )
        # Each room's default temperature sensor, as the building/room form would create it.
        await conn.execute(
            text(
                "WITH s AS (INSERT INTO sensor (sensor_type_id, default_room_id) "
                "SELECT 1, r.id FROM room r JOIN building b ON b.id = r.building_id "
                "AND b.key = 'pre' RETURNING id, default_room_id) "
                "INSERT INTO sensor_assignment (sensor_id, valid_from, room_id) "
                "SELECT id, '-infinity', default_room_id FROM s"
            )
        )
        await conn.execute(text(room_sensors.RECORD_ALL))
        await conn.execute(
            text(
                "INSERT INTO capture (ts, value, room_id, sensor_id) "
                "SELECT :start + m * CAST(:step AS interval), 293.15, s.default_room_id, s.id "
                "FROM sensor s JOIN room r ON r.id = s.default_room_id "
                "JOIN building b ON b.id = r.building_id AND b.key = 'pre', "
                "generate_series(0, :m - 1) m"
            ),
            {"start": start, "step": step, "m": rows // rooms},
        )
        await conn.execute(text("ANALYZE capture"))
        stored = await conn.scalar(text("SELECT count(*) FROM capture"))
    return {"rows": int(stored or 0), "seconds": round(time.perf_counter() - t0, 1)}


async def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = create_async_engine(url)
    db = DatabaseTime()
    results: list[dict[str, Any]] = []
    facts: dict[str, Any] = {}
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=360)
    span = timedelta(minutes=args.rows // ROOMS + 60)
    try:
        facts["preload"] = await preload(
            engine, base, 2 * span * 2 * len(args.chunks), args.preload
        )
        print(f"preloaded: {facts['preload']}", flush=True)
        facts["staging"] = await staging_cost(engine, args.staging_runs)
        facts["parse_only_rows_per_s"] = parse_only(args.rows, base)
        print(f"staging table: {facts['staging']}", flush=True)
        n = 0
        for chunk in args.chunks:
            for path in PATHS:
                staged = path == "staged"
                start = base + n * 2 * span
                n += 1
                items = captures(start, args.rows)
                row: dict[str, Any] = {"chunk": chunk, "path": path, "rows": args.rows}
                for phase, batch in (
                    ("insert", items),
                    ("duplicate", items),
                    ("update", captures(start, args.rows, shift=0.5)),
                ):
                    secs, db_secs, counts = await store(engine, batch, chunk, staged, db)
                    row[f"{phase}_rows_per_s"] = round(args.rows / secs)
                    row[f"{phase}_db_rows_per_s"] = round(args.rows / db_secs)
                    row[f"{phase}_counts"] = [counts.inserted, counts.duplicates, counts.updated]
                with tempfile.TemporaryDirectory() as tmp:
                    f = Path(tmp) / "import.csv"
                    write_file(f, start + span, args.rows)
                    secs = await import_file(engine, f, chunk, staged)
                row["file_rows_per_s"] = round(args.rows / secs)
                if staged:
                    row["rollup_refresh"] = await rollup_keys(engine, start, min(chunk, args.rows))
                results.append(row)
                print(json.dumps(row), flush=True)
    finally:
        await engine.dispose()
    return {"results": results, "facts": facts}


def table(results: list[dict[str, Any]]) -> str:
    """rows/s in all (validation + database) and, in brackets, in the upsert + rollup calls."""
    lines = [
        "| chunk | path | insert rows/s (db) | duplicate rows/s (db) | update rows/s (db) "
        "| file rows/s |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        cells = [
            f"{r[f'{p}_rows_per_s']:,} ({r[f'{p}_db_rows_per_s']:,})"
            for p in ("insert", "duplicate", "update")
        ]
        lines.append(
            f"| {r['chunk']:,} | {r['path']} | {' | '.join(cells)} | {r['file_rows_per_s']:,} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", type=int, default=100_000, help="rows per chunk size and path")
    p.add_argument("--chunks", default="1000,10000,50000", help="chunk sizes")
    p.add_argument("--staging-runs", type=int, default=300)
    p.add_argument("--preload", type=int, default=1_000_000, help="captures stored first")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    args.chunks = [int(c) for c in str(args.chunks).split(",")]
    started = datetime.now(UTC)
    with database() as url:
        migrate.upgrade(url)
        doc = asyncio.run(run(sqlalchemy_url(url).render_as_string(hide_password=False), args))
    doc = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "machine": {**machine(), "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        **doc,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"import-{started.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(table(doc["results"]))
    print(f"staging table per transaction: {doc['facts']['staging']}")
    print(f"read + parse only (no database): {doc['facts']['parse_only_rows_per_s']:,} rows/s")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
