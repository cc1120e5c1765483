"""What the running app holds: settings, engines, clock, and whether the schema is at head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from roomtemp.capture.service import IngestCounts, SingleCapture
from roomtemp.clock import Clock
from roomtemp.settings import Settings


class CaptureBatcher(Protocol):
    """Joins single-capture requests into shared transactions (capture.batcher, built in app.py)."""

    async def submit(self, request: SingleCapture) -> IngestCounts: ...

    async def close(self) -> None: ...


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    clock: Clock
    head_revision: str
    #: The primary in autocommit mode: reads when there is no standby (and the fallback).
    primary_read_engine: AsyncEngine
    schema_ready: bool = False
    #: The standby's engine (DATABASE_READ_URL); None: reads use `primary_read_engine`.
    read_engine: AsyncEngine | None = None
    #: The standby was unreachable and DB_READ_FALLBACK sent the last read to the primary.
    reading_from_primary: bool = False
    ingest_batcher: CaptureBatcher | None = None
