"""`roomtemp maintain`: create partitions ahead, expire old ones and old rollups."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from roomtemp.clock import system_clock
from roomtemp.lifecycle.cli import engine_for

if TYPE_CHECKING:  # the service (SQLAlchemy) is imported when the command runs
    from roomtemp.partitions import service
    from roomtemp.settings import Settings

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "maintain",
        help="create time partitions ahead and drop those past retention",
        description="Create the current and the next PARTITION_AHEAD partitions of captures "
        "(PARTITION_INTERVAL month or day), move rows out of the default partition, drop "
        "whole partitions older than RETENTION_DAYS (the rollups stay), drop each rollup level "
        "past its own ROLLUP_15M/1H/1D_RETENTION_DAYS (unset: kept forever), recompute the report "
        "rollups of temperature sensor types when COMFORT_LOW/HIGH_CELSIUS changed, and rebuild "
        "the primary-key index of partitions that ended PARTITION_COMPACT_AFTER_DAYS ago with "
        "full pages. Idempotent; concurrent runs wait for each other (advisory lock). Run it "
        "from cron (the chart's CronJob does).",
    )
    parser.add_argument("--ahead", type=int, help="partitions to create ahead (PARTITION_AHEAD)")
    parser.add_argument(
        "--every",
        type=int,
        metavar="SECONDS",
        help="keep running, once every SECONDS (for docker compose; Kubernetes uses a CronJob)",
    )
    parser.set_defaults(func=run)


async def _maintain(settings: Settings, ahead: int) -> service.MaintainReport:
    from roomtemp.partitions import service

    engine = engine_for(settings)
    try:
        now = system_clock()
        async with engine.begin() as conn:
            report = await service.maintain(
                conn,
                now,
                interval=settings.partition_interval,
                ahead=ahead,
                retention_days=settings.retention_days,
                rollup_retention_days=settings.rollup_retention_days(),
                comfort_celsius=(settings.comfort_low_celsius, settings.comfort_high_celsius),
            )
        if settings.partition_compact_after_days is not None:
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                report.compacted = await service.compact(
                    conn, now, timedelta(days=settings.partition_compact_after_days)
                )
        return report
    finally:
        await engine.dispose()


def run(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from roomtemp.db.failures import describe

    ahead = args.ahead if args.ahead is not None else settings.partition_ahead
    while True:
        try:
            report = asyncio.run(_maintain(settings, ahead))
        except (OSError, SQLAlchemyError) as exc:
            if not args.every:
                raise
            # Class and SQLSTATE only: a statement error's text carries its bound parameters.
            log.error("maintenance failed (%s); retrying in %s s", describe(exc), args.every)
        else:
            for line in report.lines():
                print(line, file=sys.stdout, flush=True)
        if not args.every:
            return 0
        time.sleep(args.every)
