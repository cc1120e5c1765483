"""The bridge's core: messages in batches through capture ingest, acknowledged after commit.

Each batch of messages is stored in one transaction (capture.service.ingest_valid: the API's
rules, units, idempotency, rollups and sensor status). Only after the commit are its messages
acknowledged (PUBACK), so a crash before it makes the broker redeliver them and idempotency
absorbs the repeat. A message that cannot be stored for a reason of its own (bad JSON, unknown
sensor, implausible value) is answered on the dead-letter topic and acknowledged; a database
outage stops acknowledging and retries until the database is back; a message that keeps failing
while the database is fine is dead-lettered after MQTT_MAX_ATTEMPTS.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from roomtemp.capture import service as capture
from roomtemp.capture.schemas import CaptureItem
from roomtemp.clock import Clock
from roomtemp.db.failures import describe, is_database_down
from roomtemp.errors import DomainError, ErrorDetail, InvalidInput
from roomtemp.mqtt.mapping import Mapped, error_envelope, map_message
from roomtemp.mqtt.metrics import BridgeMetrics
from roomtemp.mqtt.schemas import Subscription

log = logging.getLogger(__name__)

_PREFIX_BYTES = 64  # of a dead message's payload, echoed so an operator can recognise it
_MAX_BACKOFF_S = 10.0


@dataclass
class Message:
    """One message as received; `session` says which broker connection may acknowledge it."""

    topic: str
    payload: bytes
    mid: int
    received: datetime
    session: int = 0
    qos: int = 1
    received_monotonic: float = field(default_factory=time.monotonic)


class Broker(Protocol):
    """What the bridge needs from the MQTT client (client.py)."""

    def ack(self, message: Message) -> None: ...

    def publish(self, topic: str, payload: bytes) -> None: ...

    def is_connected(self) -> bool: ...


@dataclass(frozen=True)
class BridgeConfig:
    subscriptions: Sequence[Subscription]
    policy: capture.IngestPolicy
    batch_messages: int = 500
    batch_ms: int = 20
    dead_letter_topic: str = "roomtemp/dead-letter"
    max_attempts: int = 5


def dead_letter(message: Message, error: dict[str, Any]) -> bytes:
    """The dead-letter payload: where it came from, a reference to the payload, and why."""
    head = message.payload[:_PREFIX_BYTES]
    return orjson.dumps(
        {
            "topic": message.topic,
            "payload": {
                "sha256": hashlib.sha256(message.payload).hexdigest(),
                "size": len(message.payload),
                "head": head.decode("utf-8", errors="replace"),
            },
            "received": message.received.isoformat(),
            **error,
        }
    )


@dataclass
class _Routed:
    message: Message
    mapped: Mapped | None = None  # None: dead-lettered or ignored before storing
    first: int = 0  # index of its first item in the batch's combined items


class Bridge:
    """Reads messages from `queue`, stores them in batches, acknowledges after commit."""

    def __init__(
        self,
        engine: AsyncEngine,
        config: BridgeConfig,
        broker: Broker,
        metrics: BridgeMetrics,
        clock: Clock,
    ) -> None:
        self.engine = engine
        self.config = config
        self.broker = broker
        self.metrics = metrics
        self.clock = clock
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        self.database_ok = True
        self._attempts: dict[tuple[str, str], int] = {}
        # Every item of a combined batch passes the API's per-request size check; the messages
        # were each held to it already.
        self._policy = replace(config.policy, max_batch_size=10**9)

    def offer(self, message: Message) -> None:
        """Called on the event loop for each message the client receives."""
        self.metrics.messages.inc()
        self.queue.put_nowait(message)

    async def _next_batch(self, stop: asyncio.Event) -> list[Message]:
        get = asyncio.ensure_future(self.queue.get())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({get, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not get.done():
            get.cancel()
            return []
        batch = [get.result()]
        deadline = time.monotonic() + self.config.batch_ms / 1000
        while len(batch) < self.config.batch_messages:
            if not self.queue.empty():
                batch.append(self.queue.get_nowait())
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), left))
            except TimeoutError:
                break
        return batch

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: batch, store, acknowledge. The batch in hand is finished first."""
        while not stop.is_set():
            batch = await self._next_batch(stop)
            if batch:
                await self.handle(batch, stop)

    async def handle(self, batch: list[Message], stop: asyncio.Event) -> None:
        """Store one batch; on a database outage, retry it (unacknowledged) until it works or
        the bridge stops (then the broker keeps the messages for the next start)."""
        backoff = 0.2
        while True:
            try:
                await self._store(batch)
                self._set_database(True)
                return
            except Exception as exc:
                if is_database_down(exc):
                    self._set_database(False)
                    self.metrics.retries.labels("database_down").inc()
                    log.warning("database unavailable (%s); retrying the batch", describe(exc))
                elif len(batch) > 1:
                    log.warning("batch failed (%s); storing its messages one by one", describe(exc))
                    for message in batch:
                        await self.handle([message], stop)
                    return
                elif self._give_up(batch[0], exc):
                    return
            if stop.is_set():
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

    def _set_database(self, up: bool) -> None:
        self.database_ok = up
        self.metrics.database_up.set(1 if up else 0)

    def _give_up(self, message: Message, exc: Exception) -> bool:
        """Count a failed attempt at a message the database refused; dead-letter it after the
        last one. Keyed by (topic, payload hash): a redelivered copy has a new message id."""
        key = (message.topic, hashlib.sha256(message.payload).hexdigest())
        attempts = self._attempts.get(key, 0) + 1
        self.metrics.retries.labels("failed").inc()
        log.warning("message failed (%s), attempt %d", describe(exc), attempts)
        if attempts < self.config.max_attempts:
            self._attempts[key] = attempts
            return False
        self._attempts.pop(key, None)
        error = DomainError(
            f"storing the message failed {attempts} times",
            [ErrorDetail(describe(exc), code="storage_failed")],
            "storage_failed",
        )
        self._dead(message, error)
        self.broker.ack(message)
        return True

    def _dead(self, message: Message, error: DomainError) -> None:
        self.metrics.dead_letters.labels(error.code).inc()
        self.broker.publish(
            self.config.dead_letter_topic, dead_letter(message, error_envelope(error))
        )

    def _route(self, message: Message) -> _Routed:
        for subscription in self.config.subscriptions:
            names = subscription.match(message.topic)
            if names is None:
                continue
            try:
                mapped = map_message(
                    subscription, names, message.payload, message.received, self.config.policy
                )
            except DomainError as exc:
                self._dead(message, exc)
                return _Routed(message)
            if not mapped.items and not mapped.problems:
                self.metrics.ignored.labels("no_mapped_field").inc()
                return _Routed(message)
            return _Routed(message, mapped)
        self.metrics.ignored.labels("no_subscription").inc()
        return _Routed(message)

    async def _store(self, batch: list[Message]) -> None:
        routed = [self._route(m) for m in batch]
        items: list[CaptureItem] = []
        for r in routed:
            if r.mapped is not None:
                r.first = len(items)
                items.extend(r.mapped.items)
        rejected: list[ErrorDetail] = []
        if items:
            started = time.monotonic()
            async with self.engine.begin() as conn:
                counts, rejected = await capture.ingest_valid(
                    conn,
                    items,
                    policy=self._policy,
                    now=self.clock(),
                    storage=capture.Storage.UPSERT,
                )
            self.metrics.commit_seconds.observe(time.monotonic() - started)
            self._count(counts, items)
        self.metrics.batch_messages.observe(len(batch))
        self._answer(routed, rejected)

    def _count(self, counts: capture.IngestCounts, items: list[CaptureItem]) -> None:
        self.metrics.captures.labels("inserted").inc(counts.inserted)
        self.metrics.captures.labels("duplicate").inc(counts.duplicates)
        self.metrics.captures.labels("updated").inc(counts.updated)
        now = self.clock()
        for item in items:
            self.metrics.capture_age.observe(max(0.0, (now - item.ts).total_seconds()))

    def _answer(self, routed: list[_Routed], rejected: list[ErrorDetail]) -> None:
        """After the commit: dead letters for the refused items, then every acknowledgement."""
        by_index: dict[int | None, list[ErrorDetail]] = {}
        for d in rejected:
            by_index.setdefault(d.index, []).append(d)
        now = time.monotonic()
        for r in routed:
            if r.mapped is not None:
                problems = list(r.mapped.problems)
                for n, position in enumerate(r.mapped.positions):
                    problems.extend(
                        replace(d, index=position) for d in by_index.get(r.first + n, ())
                    )
                if problems:
                    total = len(r.mapped.items) + len({p.index for p in r.mapped.problems})
                    self._dead(r.message, _refused(problems, total))
            self.metrics.lag.observe(now - r.message.received_monotonic)
            self.broker.ack(r.message)


def _refused(problems: list[ErrorDetail], total: int) -> DomainError:
    codes = {p.code for p in problems}
    code = "unknown_sensor" if codes == {"unknown_sensor"} else "invalid_input"
    bad = len({p.index for p in problems})
    message = (
        "the message's captures were refused"
        if bad >= total
        else f"{bad} of {total} captures refused; the others are stored"
    )
    exc = InvalidInput(message, problems)
    exc.code = code
    return exc
