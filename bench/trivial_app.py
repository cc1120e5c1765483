"""Ceilings for the benchmark, served like roomtemp (uvicorn, same worker count).

- `/ping`: a FastAPI JSON endpoint with no database (the HTTP ceiling).
- The bare same-SQL references, one per read, on the service's paths (loadgen's scenarios work
  with `--prefix ""`): each runs exactly the statements the service runs for that request, in
  its order (seen with log_statement=all; the token check aside), their text imported from
  roomtemp's queries modules (`Plan` below), straight through psycopg (prepared, autocommit, a
  plain connection queue), and answers orjson of the last statement's rows: no validation, auth,
  metrics, units, empty-point filling or error handling. What FastAPI plus the same SQL can do on
  this machine, so the service's number can be read against it. Needs DATABASE_URL.
  - `/v1/buildings/{b}/rooms/{r}/average` (latest average): room keys with the raw horizon,
    then the window.
  - `/v1/buildings/{b}/averages` (overview): building keys with the raw horizon, the overview.
  - `/v1/buildings/{b}/rooms/{r}/averages?from&to&step&window` (series): room keys with the raw
    horizon, then the series statement the service picks for that step and window (the
    15-minute rollup buckets for step = window = 15m).
- `/sync/v1/buildings/{building}/rooms/{room}/average`: the latest average's statements, but a
  plain `def` endpoint on a synchronous psycopg connection, which FastAPI runs in its thread
  pool. The issue's "async end to end or sync with a threadpool: decide by measurement",
  measured on the bare endpoint.

If the service changes which statements a request runs (not only their text), the references
here must follow: tests/bench/test_reference_sql.py records what the service sends and fails.
"""

from __future__ import annotations

import asyncio
import os
import queue
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
import psycopg
from fastapi import FastAPI, Query, Response

from roomtemp.average import overview_queries
from roomtemp.average import queries as avg_queries
from roomtemp.average.service import series_bounds
from roomtemp.db.driver import psycopg_sql
from tests.postgres_provider import libpq_conninfo, sqlalchemy_url

_POOL_SIZE = 20
_pool: asyncio.Queue[psycopg.AsyncConnection[tuple[Any, ...]]] = asyncio.Queue()
_sync_pool: queue.SimpleQueue[psycopg.Connection[tuple[Any, ...]]] = queue.SimpleQueue()
WINDOW = psycopg_sql(avg_queries._WINDOW)
ROOM_KEYS = psycopg_sql(avg_queries._ROOM_KEYS)
BUILDING_KEYS = psycopg_sql(avg_queries._BUILDING_KEYS)
OVERVIEW = psycopg_sql(overview_queries._OVERVIEW)
SENSOR_TYPE_KEY = "temperature"
WINDOW_SPAN = timedelta(minutes=15)


def series_statement(step: timedelta, window: timedelta) -> str:
    """The statement average.queries.select_series picks for a room's series with rollups on."""
    bucket = avg_queries.rollup_bucket(step, window)
    stmts = avg_queries.ROOM_SERIES
    if bucket is None:
        return psycopg_sql(stmts.raw)
    return psycopg_sql(stmts.bucket[bucket] if window == bucket else stmts.rollup[bucket])


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    url = os.environ.get("DATABASE_URL")
    if url:
        conninfo = libpq_conninfo(sqlalchemy_url(url))
        for _n in range(_POOL_SIZE):
            _pool.put_nowait(await psycopg.AsyncConnection.connect(conninfo, autocommit=True))
            _sync_pool.put(psycopg.Connection.connect(conninfo, autocommit=True))
    yield
    while not _pool.empty():
        await _pool.get_nowait().close()
    while not _sync_pool.empty():
        _sync_pool.get_nowait().close()


app = FastAPI(lifespan=lifespan)
_NOT_FOUND = Response(b'{"error":"not found"}', status_code=404)


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}


def _json(rows: object) -> Response:
    return Response(orjson.dumps(rows), media_type="application/json")


async def _one(
    conn: psycopg.AsyncConnection[tuple[Any, ...]], sql: str, params: dict[str, object]
) -> tuple[Any, ...] | None:
    return await (await conn.execute(sql, params, prepare=True)).fetchone()


async def _room_keys(
    conn: psycopg.AsyncConnection[tuple[Any, ...]], building: str, room: str
) -> tuple[Any, ...] | None:
    """The service's first statement for a room's read: ids, type and the raw horizon."""
    return await _one(
        conn, ROOM_KEYS, {"building": building, "room": room, "sensor_type": SENSOR_TYPE_KEY}
    )


@app.get("/v1/buildings/{building}/rooms/{room}/average")
async def latest(building: str, room: str) -> Response:
    end = datetime.now(UTC)
    conn = await _pool.get()
    try:
        keys = await _room_keys(conn, building, room)
        if keys is None:
            return _NOT_FOUND
        params = {"room_id": keys[0], "sensor_type_id": keys[1], "start": end - WINDOW_SPAN,
                  "end": end}  # fmt: skip
        row = await _one(conn, WINDOW, params)
    finally:
        _pool.put_nowait(conn)
    return _json(row)


@app.get("/sync/v1/buildings/{building}/rooms/{room}/average")
def latest_sync(building: str, room: str) -> Response:
    # FastAPI runs a `def` endpoint in its thread pool (40 threads); 20 connections are shared.
    end = datetime.now(UTC)
    conn = _sync_pool.get()
    try:
        keys = conn.execute(
            ROOM_KEYS,
            {"building": building, "room": room, "sensor_type": SENSOR_TYPE_KEY},
            prepare=True,
        ).fetchone()
        if keys is None:
            return _NOT_FOUND
        params = {"room_id": keys[0], "sensor_type_id": keys[1], "start": end - WINDOW_SPAN,
                  "end": end}  # fmt: skip
        row = conn.execute(WINDOW, params, prepare=True).fetchone()
    finally:
        _sync_pool.put(conn)
    return _json(row)


@app.get("/v1/buildings/{building}/averages")
async def overview(building: str) -> Response:
    end = datetime.now(UTC)
    conn = await _pool.get()
    try:
        keys = await _one(conn, BUILDING_KEYS, {"building": building,
                                                "sensor_type": SENSOR_TYPE_KEY})  # fmt: skip
        if keys is None:
            return _NOT_FOUND
        params = {"building_id": keys[0], "sensor_type_id": keys[1], "start": end - WINDOW_SPAN,
                  "end": end}  # fmt: skip
        rows = await (await conn.execute(OVERVIEW, params, prepare=True)).fetchall()
    finally:
        _pool.put_nowait(conn)
    return _json(rows)


_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def _span(text: str) -> timedelta:
    """`15m`, `1h`, `1d`: the spans the benchmark sends (the service parses many more)."""
    return int(text[:-1]) * _UNITS[text[-1]]


@app.get("/v1/buildings/{building}/rooms/{room}/averages")
async def series(
    building: str,
    room: str,
    from_: Annotated[str, Query(alias="from")],
    to: str,
    step: str = "15m",
    window: str = "15m",
) -> Response:
    step_span, window_span = _span(step), _span(window)
    first, last, _count = series_bounds(
        datetime.fromisoformat(from_), datetime.fromisoformat(to), step_span, max_points=10**9
    )
    conn = await _pool.get()
    try:
        keys = await _room_keys(conn, building, room)
        if keys is None:
            return _NOT_FOUND
        params = {"room_id": keys[0], "sensor_type_id": keys[1], "sensor_id": None, "first": first,
                  "last": last, "step": step_span, "window": window_span}  # fmt: skip
        sql = series_statement(step_span, window_span)
        rows = await (await conn.execute(sql, params, prepare=True)).fetchall()
    finally:
        _pool.put_nowait(conn)
    return _json(rows)
