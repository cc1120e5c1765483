"""What the running app holds: settings, engines, clock, metrics, limiters, schema readiness."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from roomtemp.capture.service import IngestCounts, SingleCapture
from roomtemp.clock import Clock
from roomtemp.live.service import Hub
from roomtemp.obs.metrics import Metrics
from roomtemp.settings import Settings

if TYPE_CHECKING:  # api.auth imports this module (through api.deps)
    from roomtemp.api.auth import FailureLimiter, RateLimiter


class CaptureBatcher(Protocol):
    """Joins single-capture requests into shared transactions (capture.batcher, built in app.py)."""

    async def submit(self, request: SingleCapture) -> IngestCounts: ...

    async def close(self) -> None: ...


@dataclass
class AppState:
    """The one typed home of what requests share (FastAPI's `app.state` holds only this)."""

    settings: Settings
    engine: AsyncEngine
    clock: Clock
    head_revision: str
    #: Built in create_app (the middleware holds it too) and handed to each lifespan's state.
    metrics: Metrics
    #: Per-token request limiter and per-address failed-authentication limiter (api/auth.py).
    rate_limiter: RateLimiter
    auth_failure_limiter: FailureLimiter
    #: The primary in autocommit mode: reads when there is no standby (and the fallback).
    primary_read_engine: AsyncEngine
    schema_ready: bool = False
    #: The standby's engine (DATABASE_READ_URL); None: reads use `primary_read_engine`.
    read_engine: AsyncEngine | None = None
    #: The standby was unreachable and DB_READ_FALLBACK sent the last read to the primary.
    reading_from_primary: bool = False
    ingest_batcher: CaptureBatcher | None = None
    #: Live updates' fan-out (live/hub.py); None with LIVE_ENABLED=false.
    live: Hub | None = None
