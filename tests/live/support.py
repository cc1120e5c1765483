"""Live-stream test helpers: real uvicorn servers in this process (one app each, one database),
and a Server-Sent Events reader over a real HTTP connection."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx2 as httpx
import orjson
import uvicorn
from fastapi import FastAPI

from roomtemp.app import create_app
from roomtemp.clock import fixed_clock
from tests.conftest import NOW, make_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Replica:
    url: str
    app: FastAPI


def live_app(database_url: str, now: datetime = NOW, **overrides: Any) -> FastAPI:
    overrides.setdefault("auth_required", False)
    overrides.setdefault("rate_limit_per_second", 0)
    return create_app(make_settings(database_url=database_url, **overrides), clock=fixed_clock(now))


@asynccontextmanager
async def replica(database_url: str, **overrides: Any) -> AsyncIterator[Replica]:
    """An API replica: `create_app` under a real uvicorn server on a free loopback port."""
    app = live_app(database_url, **overrides)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started or not _listening(app):
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("replica did not start")
        await asyncio.sleep(0.02)
    try:
        yield Replica(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


def _listening(app: FastAPI) -> bool:
    state = getattr(app.state, "roomtemp", None)
    return state is None or state.live is None or state.live.available


@dataclass
class Event:
    name: str
    data: Any
    id: str | None
    at: float = field(default_factory=time.monotonic)


class Stream:
    """One open SSE response, read event by event (comments and retry lines skipped)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.last_id: str | None = None

    async def next(self, within: float = 5.0) -> Event:
        return await asyncio.wait_for(self._next(), within)

    async def _next(self) -> Event:
        name, id_ = "message", None
        data: list[str] = []
        async for line in self._lines:
            if line == "":
                if data:
                    if id_ is not None:
                        self.last_id = id_
                    return Event(name, orjson.loads("\n".join(data)), id_)
                if id_ is not None:
                    self.last_id = id_
                name, data, id_ = "message", [], None
                continue
            if line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if key == "event":
                name = value
            elif key == "data":
                data.append(value)
            elif key == "id":
                id_ = value
        raise EOFError("stream ended")

    async def until(self, name: str, within: float = 5.0) -> Event:
        deadline = time.monotonic() + within
        while True:
            event = await self.next(max(0.01, deadline - time.monotonic()))
            if event.name == name:
                return event


@asynccontextmanager
async def stream(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[Stream]:
    async with client.stream("GET", url, headers=headers, timeout=30) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Stream(response)


async def post(client: httpx.AsyncClient, url: str, body: Any) -> httpx.Response:
    return await client.post(url + "/v1/captures", json=body, timeout=30)
