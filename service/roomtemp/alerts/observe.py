"""The alerts process's own observability: /healthz, /readyz (database reachable, schema at
head) and /metrics on ALERTS_PORT, and the gauges read from the database every
ALERTS_METRICS_SECONDS (they count what is stored, so every replica shows the same numbers)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from roomtemp.alerts import alert_service
from roomtemp.alerts.metrics import AlertMetrics
from roomtemp.clock import Clock
from roomtemp.db.engine import current_revision
from roomtemp.db.migrate import head_revision
from roomtemp.obs import probe_server
from roomtemp.settings import Settings

log = logging.getLogger(__name__)


async def refresh(engine: AsyncEngine, metrics: AlertMetrics) -> bool:
    """Read the gauges' values; False (and database_up 0) when the database cannot answer."""
    try:
        async with engine.connect() as conn:
            snap = await alert_service.snapshot(conn)
    except Exception as exc:  # the gauges keep their last values; the up gauge says why
        log.warning("alert metrics not refreshed: %s", type(exc).__name__)
        metrics.database_up.set(0)
        return False
    metrics.set_open(snap.buildings, snap.open_counts)
    metrics.outbox_pending.set(snap.outbox_pending)
    metrics.set_last_evaluation(snap.last_evaluation)
    metrics.database_up.set(1)
    return True


def readiness(engine: AsyncEngine) -> probe_server.Ready:
    head = head_revision()

    async def ready() -> tuple[bool, dict[str, bool]]:
        try:
            revision = await asyncio.wait_for(current_revision(engine), 5)
        except Exception:  # unreachable or too slow: not ready, whatever the reason
            return False, {"database": False, "schema": False}
        return revision == head, {"database": True, "schema": revision == head}

    return ready


async def run_observer(
    engine: AsyncEngine,
    settings: Settings,
    clock: Clock,
    stop: asyncio.Event,
    *,
    metrics: AlertMetrics,
) -> None:
    """Serve the probes and /metrics and refresh the gauges until `stop` is set."""
    del clock  # the loop's signature is every alerts loop's; the gauges need no time
    server = await probe_server.serve(
        settings.alerts_host, settings.alerts_port, readiness(engine), metrics.registry
    )
    log.info("alerts: /healthz, /readyz, /metrics on %s:%d", settings.alerts_host,
             settings.alerts_port)  # fmt: skip
    try:
        while not stop.is_set():
            await refresh(engine, metrics)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.alerts_metrics_seconds)
    finally:
        server.close()
        await server.wait_closed()
