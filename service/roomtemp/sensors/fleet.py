"""The silent-sensors gauge, refreshed by a task of the app's lifespan (never per scrape: a
scrape must not query the database, and many scrapers would multiply the work)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from roomtemp.clock import Clock
from roomtemp.db.failures import describe
from roomtemp.obs.metrics import Metrics
from roomtemp.sensors import service
from roomtemp.settings import Settings

log = logging.getLogger(__name__)


async def refresh_silent_sensors(
    engine: AsyncEngine, metrics: Metrics, clock: Clock, silent_for: timedelta, seen: set[str]
) -> dict[str, int]:
    """Set the gauge once: one series per building with registered sensors. A building seen
    before that has none any more reads 0 (its series stays: bounded by the buildings)."""
    async with engine.connect() as conn:
        counts = await service.silent_by_building(conn, clock(), silent_for)
    for building in seen - counts.keys():
        metrics.silent_sensors.labels(building=building).set(0)
    for building, n in counts.items():
        metrics.silent_sensors.labels(building=building).set(n)
    seen.update(counts)
    return counts


class SilentSensorRefresher:
    """Runs refresh_silent_sensors every SILENT_SENSOR_REFRESH_SECONDS until closed."""

    def __init__(
        self, settings: Settings, engine: AsyncEngine, metrics: Metrics, clock: Clock
    ) -> None:
        self._engine = engine
        self._metrics = metrics
        self._clock = clock
        self._silent_for = timedelta(minutes=settings.silent_sensor_minutes)
        self._every = settings.silent_sensor_refresh_seconds
        self._seen: set[str] = set()
        self._task = asyncio.create_task(self._run(), name="silent-sensors")

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                await refresh_silent_sensors(
                    self._engine, self._metrics, self._clock, self._silent_for, self._seen
                )
                failing = False
            except Exception as exc:  # the database may be down or not migrated yet
                # Said once per outage, not once per interval; the readiness probe tells more.
                level = logging.DEBUG if failing else logging.WARNING
                log.log(level, "silent sensors gauge not refreshed (%s)", describe(exc))
                failing = True
            await asyncio.sleep(self._every)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def silent_sensor_refresher(
    settings: Settings, engine: AsyncEngine, metrics: Metrics, clock: Clock
) -> SilentSensorRefresher:
    return SilentSensorRefresher(settings, engine, metrics, clock)
