"""Ceilings for the benchmark, served like roomtemp (uvicorn, same worker count).

- `/ping`: a FastAPI JSON endpoint with no database (the HTTP ceiling).
- `/v1/buildings/{building}/rooms/{room}/average`: the latest-average SQL of roomtemp run straight
  through psycopg (prepared, autocommit, a plain connection queue) with nothing else around it: no
  validation, auth, metrics, units or error handling. What FastAPI plus one query can do on this
  machine, so the service's number can be read against it. Needs DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import os
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


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    url = os.environ.get("DATABASE_URL")
    if url:
        conninfo = libpq_conninfo(sqlalchemy_url(url))
        for _n in range(_POOL_SIZE):
            _pool.put_nowait(await psycopg.AsyncConnection.connect(conninfo, autocommit=True))
    yield
    while not _pool.empty():
        await _pool.get_nowait().close()


app = FastAPI(lifespan=lifespan)


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/v1/buildings/{building}/rooms/{room}/average")
async def latest(building: str, room: str) -> Response:
    end = datetime.now(UTC)
    start = end - timedelta(minutes=15)
    params = {
        "building": building,
        "room": room,
        "sensor_type": "temperature",
        "start": start,
        "end": end,
    }
    conn = await _pool.get()
    try:
        row = await (
            await conn.execute(psycopg_sql(_WINDOW_BY_KEYS), params, prepare=True)
        ).fetchone()
    finally:
        _pool.put_nowait(conn)
    if row is None:
        return Response(b'{"error":"not found"}', status_code=404)
    body = {"building": building, "room": room, "count": row[2], "mean": row[3], "end": end}
    return Response(orjson.dumps(body), media_type="application/json")
