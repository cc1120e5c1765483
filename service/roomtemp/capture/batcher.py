"""Micro-batching of single-capture requests: many concurrent POSTs, one transaction.

A commit per request is bound by the WAL flush (synchronous_commit stays on: an acknowledged
capture is durable). Requests that arrive while a batch is being written wait and go into the
next one together, so under load one flush acknowledges many captures; a lone request is
written at once, with no added delay. A request is answered only after its batch committed.
If a batch fails as a whole (a database error), its requests are retried one by one, so one
failing request never fails the others.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from roomtemp.capture import service, singles
from roomtemp.db.failures import describe
from roomtemp.errors import InvalidInput
from roomtemp.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    request: service.SingleCapture
    future: asyncio.Future[service.IngestCounts] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class IngestBatcher:
    """Writes single captures in batches of at most `max_batch`, one batch in flight at a time."""

    def __init__(self, engine: AsyncEngine, policy: service.IngestPolicy, max_batch: int) -> None:
        self._engine = engine
        self._policy = policy
        self._max_batch = max_batch
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def submit(self, request: service.SingleCapture) -> service.IngestCounts:
        """Store one capture; returns after the transaction holding it has committed."""
        if self._closed:
            raise RuntimeError("ingest batcher is closed")
        pending = _Pending(request)
        self._queue.append(pending)
        self._wakeup.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ingest-batcher")
        return await pending.future

    async def close(self) -> None:
        """Write what is queued, then stop."""
        self._closed = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        while self._queue:
            batch = self._take()
            if batch:
                await self._flush(batch)

    def _take(self) -> list[_Pending]:
        # Requests already answered 503 by their deadline (future cancelled) while the database
        # stalled are not written: their clients retry them.
        self._queue = [p for p in self._queue if not p.future.done()]
        batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
        return batch

    async def _run(self) -> None:
        while not self._closed:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch = self._take()
                if batch:
                    await self._flush(batch)

    async def _flush(self, batch: list[_Pending]) -> None:
        try:
            async with self._engine.begin() as conn:
                outcomes = await singles.ingest_each(conn, [p.request for p in batch], self._policy)
        except Exception as exc:
            if len(batch) == 1:
                if not batch[0].future.done():
                    batch[0].future.set_exception(exc)
                return
            # Classes and SQLSTATE only: the exception's text carries the captures (parameters).
            log.warning(
                "batch of %d captures failed (%s); retrying one by one", len(batch), describe(exc)
            )
            for p in batch:
                await self._flush([p])
            return
        for p, outcome in zip(batch, outcomes, strict=True):
            if p.future.done():  # the client went away; its capture is stored all the same
                continue
            if isinstance(outcome, InvalidInput):
                p.future.set_exception(outcome)
            else:
                p.future.set_result(outcome)


class IngestLanes:
    """Several batchers, each room always on the same one.

    While one batch waits for its commit to reach disk, another is being written, so the WAL
    flush no longer leaves the service idle. A room's captures stay in one lane, in arrival
    order, so answers for the same key are exactly as if posted one after the other, and two
    lanes never write the same capture or rollup rows.
    """

    def __init__(self, lanes: list[IngestBatcher]) -> None:
        self._lanes = lanes

    async def submit(self, request: service.SingleCapture) -> service.IngestCounts:
        lane = hash((request.item.building, request.item.room)) % len(self._lanes)
        return await self._lanes[lane].submit(request)

    async def close(self) -> None:
        for lane in self._lanes:
            await lane.close()


def ingest_batcher(settings: Settings, engine: AsyncEngine) -> IngestLanes | None:
    """The batching the settings ask for (None: a transaction per request)."""
    if settings.ingest_micro_batch == 0:
        return None
    policy = service.policy_from(settings)
    return IngestLanes(
        [
            IngestBatcher(engine, policy, settings.ingest_micro_batch)
            for _ in range(settings.ingest_writers)
        ]
    )
