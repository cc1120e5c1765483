"""Ceilings for the benchmark, served like roomtemp (uvicorn, same worker count).

- `/ping`: a FastAPI JSON endpoint with no database (the HTTP ceiling).
- `/v1/buildings/{building}/rooms/{room}/average`: the latest-average SQL of roomtemp run straight
  through psycopg (prepared, autocommit, a plain connection queue) with nothing else around it: no
  validation, auth, metrics, units or error handling. What FastAPI plus one query can do on this
  machine, so the service's number can be read against it. Needs DATABASE_URL.
- `/sync/v1/buildings/{building}/rooms/{room}/average`: the same, but a plain `def` endpoint on a
  synchronous psycopg connection, which FastAPI runs in its thread pool. The issue's "async end
  to end or sync with a threadpool: decide by measurement", measured on the bare endpoint.
"""

from __future__ import annotations

import asyncio
import os
import queue
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
from fastapi import FastAPI, Response

from roomtemp.average.queries import _WINDOW_BY_KEYS
from roomtemp.db.driver import psycopg_sql
from tests.postgres_provider import libpq_conninfo, sqlalchemy_url

_POOL_SIZE = 20
_pool: asyncio.Queue[psycopg.AsyncConnection[tuple[object, ...]]] = asyncio.Queue()
_sync_pool: queue.SimpleQueue[psycopg.Connection[tuple[object, ...]]] = queue.SimpleQueue()


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


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}


def _params(building: str, room: str, end: datetime) -> dict[str, object]:
    start = end - timedelta(minutes=15)
    return {"building": building, "room": room, "sensor_type": "temperature", "start": start,
            "end": end}  # fmt: skip


def _answer(building: str, room: str, end: datetime, row: tuple[object, ...] | None) -> Response:
    if row is None:
        return Response(b'{"error":"not found"}', status_code=404)
    body = {"building": building, "room": room, "count": row[2], "mean": row[3], "end": end}
    return Response(orjson.dumps(body), media_type="application/json")


@app.get("/v1/buildings/{building}/rooms/{room}/average")
async def latest(building: str, room: str) -> Response:
    end = datetime.now(UTC)
    conn = await _pool.get()
    try:
        cur = await conn.execute(psycopg_sql(_WINDOW_BY_KEYS), _params(building, room, end),
                                 prepare=True)  # fmt: skip
        row = await cur.fetchone()
    finally:
        _pool.put_nowait(conn)
    return _answer(building, room, end, row)


@app.get("/sync/v1/buildings/{building}/rooms/{room}/average")
def latest_sync(building: str, room: str) -> Response:
    # FastAPI runs a `def` endpoint in its thread pool (40 threads); 20 connections are shared.
    end = datetime.now(UTC)
    conn = _sync_pool.get()
    try:
        cur = conn.execute(psycopg_sql(_WINDOW_BY_KEYS), _params(building, room, end),
                           prepare=True)  # fmt: skip
        row = cur.fetchone()
    finally:
        _sync_pool.put(conn)
    return _answer(building, room, end, row)
