"""The webhook sender of `roomtemp alerts`: delivers the alert_outbox at least once.

Each poll takes up to ALERT_DELIVERY_BATCH due rows `FOR UPDATE SKIP LOCKED` in one transaction,
POSTs them concurrently and records every attempt (alert_delivery) and its outcome (alert_outbox)
in that same transaction. Several senders (replicas) therefore never send one row at once, and
a sender that dies mid-send leaves its rows locked only until PostgreSQL ends its session: they
are due again and another sender (or the restarted one) sends them — a receiver may see a
notification twice, never zero times, and drops repeats by the Idempotency-Key.

A 2xx answer is delivered; anything else (other status, timeout, refused connection) is retried
after first * 2^(n-1) seconds (capped, half of it random so retries of many rows spread out) until
the notification is ALERT_DELIVERY_MAX_AGE_SECONDS old, then given up and counted. Rows of a
silenced alert wait for the end of the silence; then only the alert's latest transition is sent
to each receiver, the older held ones are skipped (logged) — docs/alerts.md, Delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx2 as httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from roomtemp.alerts import delivery_queries as q
from roomtemp.alerts import payloads
from roomtemp.clock import Clock
from roomtemp.settings import Settings

log = logging.getLogger(__name__)

Result = Literal["delivered", "failed", "given_up", "skipped"]
HELD = "held: the alert is silenced"
SUPERSEDED = "skipped: a later transition of the alert is sent after the silence"


@dataclass(frozen=True)
class Attempt:
    status: int | None
    error: str | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def backoff(failures: int, first: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait after the `failures`-th failed attempt: first * 2^(failures-1) capped at
    `cap`; the upper half is random ("equal jitter"), so it lies in [base/2, base]."""
    base = min(cap, first * 2.0 ** min(failures - 1, 62))
    return base / 2 + rng.uniform(0, base / 2)


def _describe(exc: Exception) -> str:
    # Never the URL: webhook URLs (Slack's, for one) carry secrets of their own.
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout ({type(exc).__name__})"
    if isinstance(exc, httpx.TransportError):
        return f"{type(exc).__name__}: {exc}"[:300]
    return type(exc).__name__


async def post(client: httpx.AsyncClient, due: q.Due, now: datetime, settings: Settings) -> Attempt:
    """One attempt: sign the exact body bytes and POST them; never raises."""
    body = payloads.body(due, settings.alert_external_url)
    seconds = settings.alert_delivery_timeout_seconds
    started = time.perf_counter()
    try:
        response = await client.post(
            due.url, content=body, headers=payloads.headers(due, body, now), timeout=seconds
        )
    except Exception as exc:  # any failure is a failed attempt, retried
        return Attempt(None, _describe(exc), (time.perf_counter() - started) * 1000)
    elapsed = (time.perf_counter() - started) * 1000
    error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    return Attempt(response.status_code, error, elapsed)


def _outcome(
    due: q.Due, attempt: Attempt, now: datetime, settings: Settings, rng: random.Random
) -> tuple[dict[str, Any], Result]:
    row: dict[str, Any] = {
        "outbox_id": due.outbox_id,
        "attempted": 1,
        "next_attempt_at": now,
        "delivered_at": None,
        "given_up_at": None,
        "last_error": attempt.error,
    }
    if attempt.ok:
        row["delivered_at"] = now
        return row, "delivered"
    if now - due.age_from >= timedelta(seconds=settings.alert_delivery_max_age_seconds):
        row["given_up_at"] = now
        return row, "given_up"
    wait = backoff(
        due.attempts + 1,
        settings.alert_delivery_first_retry_seconds,
        settings.alert_delivery_max_retry_seconds,
        rng,
    )
    row["next_attempt_at"] = now + timedelta(seconds=wait)
    return row, "failed"


def _not_sent(due: q.Due, now: datetime) -> tuple[dict[str, Any], Result | None] | None:
    """Rows not to POST now: held by a live silence, or superseded once it ended."""
    base = {"outbox_id": due.outbox_id, "attempted": 0, "delivered_at": None}
    if due.silenced_until is not None and due.silenced_until > now:
        return {
            **base,
            "next_attempt_at": due.silenced_until,
            "given_up_at": None,
            "last_error": HELD,
        }, None
    if due.superseded:
        return {**base, "next_attempt_at": now, "given_up_at": now, "last_error": SUPERSEDED}, (
            "skipped"
        )
    return None


async def send_due(
    engine: AsyncEngine,
    settings: Settings,
    clock: Clock,
    client: httpx.AsyncClient,
    rng: random.Random,
    on_result: Callable[[Result], None] | None = None,
) -> int:
    """One poll: claim, send, record (one transaction). Returns how many rows it claimed."""
    results: list[Result] = []
    async with engine.begin() as conn:
        now = clock()
        await q.release_held(conn, now, HELD)
        claimed = await q.claim_due(conn, now, settings.alert_delivery_batch, HELD)
        updates: list[dict[str, Any]] = []
        logged: list[dict[str, Any]] = []
        sending: list[q.Due] = []
        for due in claimed:
            held = _not_sent(due, now)
            if held is None:
                sending.append(due)
                continue
            update_row, result = held
            updates.append(update_row)
            if result is not None:
                results.append(result)
                logged.append(
                    {
                        "outbox_id": due.outbox_id,
                        "attempted_at": now,
                        "status": None,
                        "error": SUPERSEDED,
                        "duration_ms": 0.0,
                    }
                )
        attempts = await asyncio.gather(*(post(client, d, now, settings) for d in sending))
        done = clock()
        for due, attempt in zip(sending, attempts, strict=True):
            update_row, result = _outcome(due, attempt, done, settings, rng)
            updates.append(update_row)
            results.append(result)
            logged.append(
                {
                    "outbox_id": due.outbox_id,
                    "attempted_at": now,
                    "status": attempt.status,
                    "error": attempt.error,
                    "duration_ms": attempt.duration_ms,
                }
            )
            if result != "delivered":
                log.warning(
                    "alert notification %s to receiver %s: %s (attempt %d, %s)",
                    due.idempotency_key,
                    due.receiver,
                    attempt.error,
                    due.attempts + 1,
                    "given up" if result == "given_up" else "will retry",
                )
        await q.insert_deliveries(conn, logged)
        await q.update_outbox(conn, updates)
    if on_result is not None:
        for result in results:
            on_result(result)
    return len(claimed)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def run_sender(
    engine: AsyncEngine,
    settings: Settings,
    clock: Clock,
    stop: asyncio.Event,
    on_result: Callable[[Result], None] | None = None,
) -> None:
    """Deliver until `stop` is set; a full batch polls again at once, otherwise it waits
    ALERT_DELIVERY_POLL_SECONDS. A failed poll (database away) rolled back: its rows are still
    due, and the next poll takes them."""
    rng = random.Random()  # noqa: S311  # jitter, not a secret
    # httpx logs every request with its URL at INFO; webhook URLs can be secrets (Slack's).
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    async with httpx.AsyncClient(follow_redirects=False) as client:
        while not stop.is_set():
            try:
                claimed = await send_due(engine, settings, clock, client, rng, on_result)
            except Exception:
                log.exception("alert delivery poll failed")
                claimed = 0
            if claimed < settings.alert_delivery_batch:
                await _pause(stop, settings.alert_delivery_poll_seconds)
