"""The one LISTEN connection of an API process: notifies in, to the hub; reconnects with backoff.

Outside the request pool (its own engine of one connection, autocommit): a LISTEN session is
held for the process's life. Every LIVE_HEARTBEAT_SECONDS without a notify it runs `SELECT 1`,
so a connection that died silently is noticed within a heartbeat (plus the TCP keepalives'
bound) rather than never. While it is down the hub refuses new streams (503 + Retry-After) and
has ended the open ones with a retry hint; clients poll meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.ext.asyncio import AsyncEngine

from roomtemp.live.hub import Hub
from roomtemp.live.payload import CHANNEL, parse

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.2
BACKOFF_MAX = 10.0


class Listener:
    def __init__(self, engine: AsyncEngine, hub: Hub, *, check_seconds: float) -> None:
        self.engine = engine
        self.hub = hub
        self.check_seconds = check_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="roomtemp-live-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.engine.dispose()

    async def _run(self) -> None:
        backoff = BACKOFF_FIRST
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost or refused: the same answer
                if self.hub.available:
                    log.warning("live listener lost its connection (%s)", type(exc).__name__)
                    self.hub.lost()
                    backoff = BACKOFF_FIRST
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _listen(self) -> None:
        async with self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            pg: Any = raw.driver_connection
            assert isinstance(pg, psycopg.AsyncConnection)
            await pg.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
            self.hub.connected()
            log.info("live listener connected")
            try:
                while True:
                    async for note in pg.notifies(timeout=self.check_seconds):
                        self._deliver(note.payload)
                    await pg.execute("SELECT 1")  # still there?
            except BaseException:
                await conn.invalidate()  # never back to the pool in LISTEN state
                raise

    def _deliver(self, payload: str) -> None:
        try:
            ann = parse(payload)
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed notify on %s", CHANNEL)
            return
        self.hub.receive(ann)
