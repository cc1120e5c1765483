"""Import speed: the staged COPY load against the API's one-statement upsert, per chunk size.

    python -m bench.import_speed                       # 1k, 10k, 50k rows per chunk
    python -m bench.import_speed --rows 20000 --chunks 1000,10000 --out /tmp/b

Against a durable local PostgreSQL (as bench.run; BENCH_DATABASE_URL to use another server),
for each chunk size and both ways of storing a chunk (`staged`: binary COPY into a temporary
table + one INSERT … SELECT; `statement`: the API's unnest upsert):
  store  capture.service.ingest on parsed captures (validation + database): new rows (all
         inserted), the same rows again (all duplicates), then changed values (all updated)
  file   importer.import_records on a generated CSV: read + parse + validate + store, end to end
Also: the cost of the transaction-local staging table alone, and the rollup refresh of a chunk
with one key per capture against one key per 15-minute bucket. Prints a table and writes
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.run import ROOT, database, machine
from roomtemp.capture import queries as capture_queries
from roomtemp.capture import service as capture
from roomtemp.capture.schemas import CaptureIn
from roomtemp.clock import system_clock
from roomtemp.db import migrate
from roomtemp.importer import service as importer
from roomtemp.importer.source import open_source
from roomtemp.rollup import service as rollups
from tests.postgres_provider import sqlalchemy_url

ROOMS = 50
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
            ts=(start + timedelta(minutes=n // ROOMS)).isoformat(),  # type: ignore[arg-type]
        )
        for n in range(rows)
    ]


async def store(
    engine: AsyncEngine, items: list[CaptureIn], chunk: int, staged: bool
) -> tuple[float, capture.IngestCounts]:
    ins = dup = upd = 0
    t0 = time.perf_counter()
    for i in range(0, len(items), chunk):
        async with engine.begin() as conn:
            c = await capture.ingest(
                conn, items[i : i + chunk], policy(chunk), system_clock(), staged=staged
            )
        ins, dup, upd = ins + c.inserted, dup + c.duplicates, upd + c.updated
    return time.perf_counter() - t0, capture.IngestCounts(ins, dup, upd)


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
            engine, source.records, policy(chunk), system_clock, chunk_size=chunk, staged=staged
        )
    seconds = time.perf_counter() - t0
    if totals.inserted != totals.rows:
        raise RuntimeError(f"expected {totals.rows} new rows, got {totals}")
    return seconds


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
                    "SELECT room_id, sensor_type_id, ts FROM capture WHERE ts >= :a "
                    "ORDER BY ts, room_id LIMIT :n"
                ),
                {"a": start, "n": rows},
            )
        ]
        buckets = sorted(
            {
                (r, s, t)
                for r, s, t in await conn.execute(
                    text(
                        "SELECT DISTINCT room_id, sensor_type_id, "
                        "roomtemp_bucket(ts, interval '15 minutes') FROM capture "
                        "WHERE (room_id, sensor_type_id, ts) IN "
                        "(SELECT * FROM unnest(CAST(:r AS int[]), CAST(:s AS smallint[]), "
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


async def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = create_async_engine(url)
    results: list[dict[str, Any]] = []
    facts: dict[str, Any] = {}
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=360)
    try:
        facts["staging"] = await staging_cost(engine, args.staging_runs)
        print(f"staging table: {facts['staging']}", flush=True)
        span = timedelta(minutes=args.rows // ROOMS + 60)
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
                    secs, counts = await store(engine, batch, chunk, staged)
                    row[f"{phase}_rows_per_s"] = round(args.rows / secs)
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
    lines = [
        "| chunk | path | insert rows/s | duplicate rows/s | update rows/s | file rows/s |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['chunk']:,} | {r['path']} | {r['insert_rows_per_s']:,} | "
            f"{r['duplicate_rows_per_s']:,} | {r['update_rows_per_s']:,} | "
            f"{r['file_rows_per_s']:,} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", type=int, default=100_000, help="rows per chunk size and path")
    p.add_argument("--chunks", default="1000,10000,50000", help="chunk sizes")
    p.add_argument("--staging-runs", type=int, default=300)
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
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
