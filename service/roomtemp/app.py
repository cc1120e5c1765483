"""The composition root: create_app(settings) wires settings, engine, routers and error handling."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from roomtemp import __version__
from roomtemp.api import errors
from roomtemp.api.deps import check_schema
from roomtemp.api.health import router as health_router
from roomtemp.api.state import AppState
from roomtemp.average.routes import router as average_router
from roomtemp.capture.batcher import ingest_batcher
from roomtemp.capture.routes import router as capture_router
from roomtemp.clock import Clock, system_clock
from roomtemp.dashboard.routes import router as dashboard_router
from roomtemp.db.engine import create_engine, create_read_engine
from roomtemp.db.migrate import head_revision
from roomtemp.export.routes import router as export_router
from roomtemp.registry.routes import router as registry_router
from roomtemp.report.routes import router as report_router
from roomtemp.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, clock: Clock = system_clock) -> FastAPI:
    url = settings.sqlalchemy_url()
    if url is None:
        raise RuntimeError("no database configured: set DATABASE_URL (or DB_HOST and DB_* parts)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings, url)
        read_url = settings.read_url()
        read_engine = create_read_engine(settings, read_url) if read_url else None
        state = AppState(
            settings=settings,
            engine=engine,
            clock=clock,
            head_revision=head_revision(),
            read_engine=read_engine,
        )
        app.state.roomtemp = state
        try:
            if not await check_schema(state):
                log.error(
                    "database schema is not at head %s; not ready until `roomtemp migrate` runs",
                    state.head_revision,
                )
        except Exception as exc:  # the service still starts; readiness stays false
            log.error("database unreachable at startup (%s); not ready", type(exc).__name__)
        state.ingest_batcher = ingest_batcher(settings, engine)
        yield
        if state.ingest_batcher is not None:
            await state.ingest_batcher.close()
        await engine.dispose()
        if read_engine is not None:
            await read_engine.dispose()

    app = FastAPI(
        title="roomtemp",
        version=__version__,
        summary="Building temperature captures and rolling averages",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(health_router)
    app.include_router(capture_router)
    app.include_router(average_router)
    app.include_router(registry_router)
    app.include_router(export_router)
    app.include_router(report_router)
    app.include_router(dashboard_router)
    return app


def app_from_environment() -> FastAPI:
    """Factory for uvicorn workers: settings come from the environment."""
    return create_app(Settings())
