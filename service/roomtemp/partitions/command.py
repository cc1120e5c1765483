"""`roomtemp maintain`: create partitions ahead, expire old ones."""

from __future__ import annotations

import argparse
import asyncio
import sys

from roomtemp.clock import system_clock
from roomtemp.lifecycle.cli import engine_for
from roomtemp.partitions import service
from roomtemp.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "maintain",
        help="create time partitions ahead and drop those past retention",
        description="Create the current and the next PARTITION_AHEAD partitions of captures "
        "(PARTITION_INTERVAL month or day), move rows out of the default partition, and drop "
        "whole partitions older than RETENTION_DAYS. Idempotent; concurrent runs wait for each "
        "other (advisory lock). Run it from cron (the chart's CronJob does).",
    )
    parser.add_argument("--ahead", type=int, help="partitions to create ahead (PARTITION_AHEAD)")
    parser.set_defaults(func=run)


async def _maintain(settings: Settings, ahead: int) -> service.MaintainReport:
    engine = engine_for(settings)
    try:
        async with engine.begin() as conn:
            return await service.maintain(
                conn, system_clock(), settings.partition_interval, ahead, settings.retention_days
            )
    finally:
        await engine.dispose()


def run(settings: Settings, args: argparse.Namespace) -> int:
    ahead = args.ahead if args.ahead is not None else settings.partition_ahead
    report = asyncio.run(_maintain(settings, ahead))
    for line in report.lines():
        print(line, file=sys.stdout)
    return 0
