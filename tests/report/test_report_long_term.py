"""Reports over a year whose raw captures are mostly dropped (issue 23): the same figures as
before the drop, answered from the rollups and saying so; comfort shares only for the bounds the
pieces were counted for; CSV says it in headers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.partitions import service as partitions
from tests.average.test_buckets_long_term import (
    YEAR,
    _iso,
    _maintain,
    seeded,  # noqa: F401 - the fixture
)
from tests.conftest import NOW, ClientFactory

TOL = 1e-9


def _report(client: Any, *, status: int = 200, start: datetime = YEAR[0], **extra: str) -> Any:
    params = {
        "sensor_type": "temperature",
        "from": _iso(start),
        "to": _iso(YEAR[1]),
        "unit": "kelvin",
        "group_by": "month",
        "tz": "Europe/Zurich",
        **extra,
    }
    r = client.get("/v1/buildings/hq/report", params=params)
    assert r.status_code == status, r.text
    return r


def _same(a: Any, b: Any, where: str = "") -> None:
    """Equal, numbers to 1e-9 relative (the carry may come from a piece instead of a capture)."""
    if isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=TOL, abs=TOL), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_a_year_report_survives_raw_retention(
    db: psycopg.Connection[Any],
    database_url: str,
    client_factory: ClientFactory,
    seeded: dict[str, dict[datetime, float]],  # noqa: F811
) -> None:
    client = client_factory()
    before = _report(client).json()
    assert before["resolution"] == "raw"
    assert before["raw_from"] is None
    assert sum(p["count"] for r in before["rooms"] for p in r["periods"]) > 2 * 8000

    _maintain(database_url, 90, {})
    after = _report(client).json()
    assert after["resolution"] == "1h"
    assert after["raw_from"] == "2026-08-01T00:00:00Z"
    _same(after["rooms"], before["rooms"])
    r = _report(client, format="csv")
    assert r.headers["x-resolution"] == "1h"
    assert r.headers["x-raw-from"] == "2026-08-01T00:00:00+00:00"

    # Other comfort bounds than those counted: refused before the raw horizon, answered after.
    detail = _report(client, status=422, comfort_low="19").json()["error"]["details"][0]
    assert detail["field"] == "comfort_low"
    assert detail["code"] == "resolution_unavailable"
    assert "shares below/above comfort are kept for the stored bounds only" in detail["message"]
    late = datetime(2026, 8, 1, tzinfo=UTC)
    assert _report(client, start=late, comfort_low="19", tz="UTC").json()["resolution"] == "raw"

    # New default bounds (maintain aligns them): recounted where raw captures are kept only.
    async def align() -> None:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as conn:
                await partitions.maintain(
                    conn,
                    NOW,
                    interval="month",
                    ahead=0,
                    retention_days=90,
                    comfort_celsius=(19.0, 23.0),
                )
        finally:
            await engine.dispose()

    asyncio.run(align())
    settings = {"comfort_low_celsius": 19.0, "comfort_high_celsius": 23.0}
    client = client_factory(**settings)
    detail = _report(client, status=422).json()["error"]["details"][0]
    assert detail["field"] == "from"
    assert "the comfort bounds changed" in detail["message"]
    assert _report(client, start=late, tz="UTC").json()["resolution"] == "raw"
