"""The benchmark's direct SQL: the latest-average statement alone through psycopg (the query
ceiling) and EXPLAIN (ANALYZE, BUFFERS) of each read statement."""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from roomtemp.average import overview_queries
from roomtemp.average import queries as avg_queries
from roomtemp.db.driver import psycopg_sql


def _params(room_id: int) -> dict[str, Any]:
    end = datetime.now(UTC)
    return {
        "room_id": room_id,
        "sensor_type_id": 1,
        "start": end - timedelta(minutes=15),
        "end": end,
    }


def ceiling(conninfo: str, args: argparse.Namespace, concurrency: int) -> dict[str, Any]:
    """The latest-average window statement on `concurrency` connections for `args.duration`
    seconds, random rooms: throughput and latency."""
    sql = psycopg_sql(avg_queries._WINDOW)

    async def one(deadline: float, lat: list[float], seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - load pattern, not security
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as c:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                await (await c.execute(sql, _params(rng.randrange(args.rooms) + 1))).fetchall()
                lat.append(time.perf_counter() - t0)

    async def main() -> dict[str, Any]:
        lat: list[float] = []
        t0 = time.perf_counter()
        deadline = t0 + args.duration
        await asyncio.gather(*(one(deadline, lat, s) for s in range(concurrency)))
        el = time.perf_counter() - t0
        lat.sort()
        return {
            "scenario": "latest_sql",
            "concurrency": concurrency,
            "seconds": round(el, 3),
            "requests": len(lat),
            "errors": 0,
            "req_per_s": round(len(lat) / el, 1),
            "p50_ms": lat[len(lat) // 2] * 1000,
            "p95_ms": lat[int(len(lat) * 0.95)] * 1000,
            "p99_ms": lat[int(len(lat) * 0.99)] * 1000,
        }

    return asyncio.run(main())


def explain(conninfo: str, end: datetime) -> dict[str, str]:
    """Plans by name: the latest average, the overview, and the series statements (raw, the
    15-minute rollup windows, and the one-bucket statement the service runs for step = window
    = 15m) of room 1 / building 1 up to `end`."""
    room_id, building_id = 1, 1
    p = {"room_id": room_id, "sensor_type_id": 1, "building_id": building_id}
    cases: dict[str, tuple[Any, dict[str, Any]]] = {
        "latest": (
            avg_queries._WINDOW,
            {**p, "start": end - timedelta(minutes=15), "end": end},
        ),
        "overview": (
            overview_queries._OVERVIEW,
            {**p, "start": end - timedelta(minutes=15), "end": end},
        ),
    }
    quarter = timedelta(minutes=15)
    for name, span in (("series24h", timedelta(hours=24)), ("series30d", timedelta(days=30))):
        sp = {**p, "first": end - span + quarter, "last": end, "step": quarter, "window": quarter}
        cases[f"{name}_raw"] = (avg_queries._SERIES, sp)
        cases[f"{name}_rollup"] = (avg_queries.SERIES_15M, sp)
        cases[f"{name}_bucket"] = (avg_queries.ROOM_SERIES.bucket[quarter], sp)
    # Rolling hourly windows read the 15-minute rollups (four rows per window): the 1-hour
    # pieces are left-closed since migration 0009, the other side of (t - 1h, t].
    sp = {**p, "first": end - timedelta(days=30) + timedelta(hours=1), "last": end,
          "step": timedelta(hours=1), "window": timedelta(hours=1)}  # fmt: skip
    cases["series30d_1h_rollup"] = (avg_queries.SERIES_15M, sp)
    plans: dict[str, str] = {}
    with psycopg.connect(conninfo) as conn:
        for name, (stmt, params) in cases.items():
            sql = "EXPLAIN (ANALYZE, BUFFERS) " + psycopg_sql(stmt)
            plans[name] = "\n".join(r[0] for r in conn.execute(sql, params))
    return plans
