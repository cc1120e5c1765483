"""The evaluator loop of `roomtemp alerts`: one round at every ALERT_EVAL_SECONDS instant.

A round that fails (database away, statement timeout) is logged and the loop goes on to the next
instant: nothing of a failed round was committed, and the next round evaluates the present.
Several replicas may run it: the lock lets one evaluate each instant, the others skip it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from roomtemp.alerts.evaluator import Round, evaluate_once, instant
from roomtemp.clock import Clock
from roomtemp.settings import Settings

log = logging.getLogger(__name__)


async def _sleep_until(at: datetime, clock: Clock, stop: asyncio.Event) -> None:
    delay = (at - clock()).total_seconds()
    if delay > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)


async def run_evaluator(
    engine: AsyncEngine,
    settings: Settings,
    clock: Clock,
    stop: asyncio.Event,
    on_round: Callable[[Round], None] | None = None,
) -> None:
    """Evaluate at each instant until `stop` is set; a round in progress finishes first.
    `on_round` sees every round (the metrics' hook)."""
    every = settings.alert_eval_seconds
    while not stop.is_set():
        at = instant(clock(), every)
        try:
            done: Round = await evaluate_once(engine, at, settings.default_time_zone)
        except Exception:  # the round rolled back; the next instant evaluates the present
            log.exception("alert evaluation at %s failed", at.isoformat())
        else:
            if on_round is not None:
                on_round(done)
        await _sleep_until(at + timedelta(seconds=every), clock, stop)
