"""Report scenario of the main benchmark: one building's period report, rollups on and off."""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.report import service as report


async def _times(
    url: str, building: str, start: datetime, end: datetime, runs: int, use_rollups: bool
) -> list[float]:
    engine = create_async_engine(url)
    out = []
    try:
        for _ in range(runs):
            async with engine.connect() as conn:
                t0 = time.perf_counter()
                await report.building_report(
                    conn, building, sensor_type="temperature", start=start, end=end,
                    unit="celsius", comfort_low=None, comfort_high=None,
                    default_comfort_celsius=(20.0, 24.0), use_rollups=use_rollups,
                )  # fmt: skip
                out.append(round(time.perf_counter() - t0, 4))
    finally:
        await engine.dispose()
    return out


def period_report(
    url: str, building: str, start: datetime, end: datetime, runs: int = 3
) -> dict[str, Any]:
    """Seconds per run of GET /v1/buildings/{building}/report's service call over [start, end),
    read from rollups (the default) and from the raw captures (ROLLUP_READS=false)."""
    doc: dict[str, Any] = {"building": building, "from": start.isoformat(), "to": end.isoformat()}
    for label, use in (("rollups", True), ("raw", False)):
        times = asyncio.run(_times(url, building, start, end, runs, use))
        doc[label] = {"seconds": times, "median_s": statistics.median(times)}
    print(f"report {building} {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M}: {doc}", flush=True)
    return doc
