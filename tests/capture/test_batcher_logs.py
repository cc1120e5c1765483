"""A failing micro-batch is logged with counts and error classes, never the captures' data."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.capture import service
from roomtemp.capture.batcher import IngestBatcher
from roomtemp.capture.schemas import CaptureIn
from roomtemp.settings import Settings

# Distinctive data: none of it may appear in any log record.
ROOM = "leak-room-7731"
BUILDING = "leak-bldg-4419"
TS = datetime(2026, 11, 22, 11, 54, 33, 123457, tzinfo=UTC)
VALUES = (21.987654, 22.876543, 23.765432)


def test_failed_batch_logs_no_capture_data(
    database_url: str, db: psycopg.Connection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    # A real database refusal: every transaction of this engine is read-only, so the batch fails
    # in PostgreSQL (SQLSTATE 25006) with the statement and its parameters in the exception.
    engine = create_async_engine(
        database_url, connect_args={"options": "-c default_transaction_read_only=on"}
    )
    policy = service.policy_from(Settings(_env_file=None))
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    requests = [
        service.SingleCapture(
            CaptureIn(building=BUILDING, room=ROOM, value=v, ts=TS.isoformat(), unit="celsius"), now
        )
        for v in VALUES
    ]

    async def go() -> list[BaseException | service.IngestCounts]:
        batcher = IngestBatcher(engine, policy, max_batch=100)
        try:
            # Submitted together: they form one batch of three, which fails as a whole.
            return await asyncio.gather(
                *(batcher.submit(r) for r in requests), return_exceptions=True
            )
        finally:
            await batcher.close()
            await engine.dispose()

    with caplog.at_level(logging.DEBUG):
        outcomes = asyncio.run(go())
    assert all(isinstance(o, Exception) for o in outcomes)
    warnings = [r for r in caplog.records if r.name == "roomtemp.capture.batcher"]
    assert warnings, "the failed batch was not logged"
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "3 captures" in text
    assert "ReadOnlySqlTransaction" in text
    for needle in (ROOM, BUILDING, "11:54:33", "2026-11-22", *(str(v) for v in VALUES)):
        assert needle not in text, f"{needle!r} was logged"
