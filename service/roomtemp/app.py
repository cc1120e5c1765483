"""The composition root: create_app(settings) wires settings, engine, routers and error handling."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from roomtemp import __version__
from roomtemp.alerts.alert_routes import router as alerts_router
from roomtemp.alerts.routes import receivers_router as alert_receivers_router
from roomtemp.alerts.routes import rules_router as alert_rules_router
from roomtemp.api import docs, errors
from roomtemp.api.auth import (
    AUTH_RESPONSES,
    EVERY_BUILDING_ONLY,
    FailureLimiter,
    RateLimiter,
    require,
    require_by_method,
)
from roomtemp.api.deps import check_schema
from roomtemp.api.health import router as health_router
from roomtemp.api.metrics import router as metrics_router
from roomtemp.api.middleware import DeadlineMiddleware, ObservabilityMiddleware
from roomtemp.api.state import AppState
from roomtemp.auth.routes import router as token_router
from roomtemp.auth.service import Scope
from roomtemp.average.routes import router as average_router
from roomtemp.capture.batcher import ingest_batcher
from roomtemp.capture.routes import router as capture_router
from roomtemp.clock import Clock, system_clock
from roomtemp.dashboard.routes import router as dashboard_router
from roomtemp.db import driver
from roomtemp.db.engine import create_engine, create_read_engine
from roomtemp.db.migrate import head_revision
from roomtemp.deletion.routes import router as deletion_router
from roomtemp.export.routes import router as export_router
from roomtemp.live.hub import Hub, HubSettings
from roomtemp.live.listener import Listener
from roomtemp.live.routes import router as live_router
from roomtemp.obs.metrics import Metrics, worker_exited
from roomtemp.registry.routes import router as registry_router
from roomtemp.report.routes import router as report_router
from roomtemp.sensors.fleet import silent_sensor_refresher
from roomtemp.sensors.routes import router as sensors_router
from roomtemp.settings import Settings

log = logging.getLogger(__name__)


# Answers any /v1 operation can give besides its own (documented so clients and fuzzers know).
API_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed request (e.g. the body is not JSON)"},
    413: {"description": "Request body larger than MAX_BODY_BYTES"},
    503: {"description": "Database unavailable or too slow; retry after Retry-After seconds"},
}


def create_app(settings: Settings, *, clock: Clock = system_clock) -> FastAPI:
    url = settings.sqlalchemy_url()
    if url is None:
        raise RuntimeError("no database configured: set DATABASE_URL (or DB_HOST and DB_* parts)")
    if settings.auth_required and settings.token_hash_key is None:
        raise RuntimeError(
            "AUTH_REQUIRED is true but TOKEN_HASH_KEY is not set: set TOKEN_HASH_KEY to a random "
            "secret of at least 32 characters, or AUTH_REQUIRED=false for local development only"
        )
    metrics = Metrics(version=__version__, git_sha=settings.git_sha)
    rate_limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    auth_failure_limiter = FailureLimiter(
        settings.auth_failure_rate_per_second, settings.auth_failure_burst
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings, url)
        primary_read_engine = create_engine(settings, url, autocommit=True)
        read_url = settings.read_url()
        read_engine = create_read_engine(settings, read_url) if read_url else None
        metrics.instrument_engine(engine, driver.OBSERVER)
        metrics.instrument_engine(primary_read_engine, driver.OBSERVER)
        metrics.db_pool_max.set(2 * (settings.db_pool_size + settings.db_max_overflow))
        state = AppState(
            settings=settings,
            engine=engine,
            clock=clock,
            head_revision=head_revision(),
            metrics=metrics,
            rate_limiter=rate_limiter,
            auth_failure_limiter=auth_failure_limiter,
            primary_read_engine=primary_read_engine,
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
        refresher = silent_sensor_refresher(settings, primary_read_engine, metrics, clock)
        stop_live = _start_live(state, url)
        # What start-up allocated (modules, routes, models, pools) lives as long as the process:
        # frozen, full collections no longer walk it. They ran every other 500-room bucket series
        # (12,500 buckets, ~100,000 objects) and doubled its latency: 0.23 s p50 -> 0.115 s
        # (curl, 40 requests each, 20 M captures).
        gc.freeze()
        yield
        await stop_live()
        await refresher.close()
        if state.ingest_batcher is not None:
            await state.ingest_batcher.close()
        await engine.dispose()
        await primary_read_engine.dispose()
        if read_engine is not None:
            await read_engine.dispose()
        worker_exited(os.getpid())

    app = FastAPI(
        title="roomtemp",
        version=__version__,
        summary="Building temperature captures and rolling averages",
        lifespan=lifespan,
        docs_url=None,  # served by api/docs.py with local assets (works offline)
        redoc_url=None,
    )
    docs.install(app)
    errors.install(app)
    _include_routers(app, settings)
    # Inside CORS (its 503 gets the CORS headers) and the access log (which records it).
    app.add_middleware(
        DeadlineMiddleware,
        metrics=metrics,
        read=settings.request_timeout_read_seconds,
        write=settings.request_timeout_write_seconds,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    # Outermost: sees every request, including CORS preflights and refused bodies.
    app.add_middleware(
        ObservabilityMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes
    )
    return app


def _start_live(state: AppState, url: str) -> Callable[[], Awaitable[None]]:
    """The live updates' hub (on the primary: a notify means committed there) and its one
    LISTEN connection, outside the request pool (docs/live.md)."""
    settings, metrics = state.settings, state.metrics

    async def nothing() -> None:
        pass

    if not settings.live_enabled:
        return nothing
    hub = Hub(
        state.primary_read_engine,
        state.clock,
        HubSettings(
            queue_rounds=settings.live_queue_rounds,
            ring_events=settings.live_ring_events,
            coalesce_seconds=settings.live_coalesce_ms / 1000,
            retry_ms=settings.live_retry_ms,
        ),
        on_drop=lambda reason: metrics.live_streams_dropped.labels(reason=reason).inc(),
        on_round=metrics.live_rounds.observe,
    )
    hub.start()
    state.live = hub
    listener_engine = create_engine(
        settings.model_copy(update={"db_pool_size": 1}), url, autocommit=True
    )
    listener = Listener(listener_engine, hub, check_seconds=settings.live_heartbeat_seconds)
    listener.start()

    async def stop() -> None:
        await listener.stop()
        await hub.stop()

    return stop


def _include_routers(app: FastAPI, settings: Settings) -> None:
    """The probes, /metrics, the feature routers with their token scopes, the dashboard."""
    app.include_router(health_router)
    app.include_router(metrics_router)
    # Scopes per router (tokens: ingest, read, admin). Open without a token: /healthz, /readyz,
    # /metrics, /openapi.json, /docs, /redoc and the dashboard page with its assets. Without
    # AUTH_REQUIRED there is nothing to check, and each dependency costs every request.
    responses = {**AUTH_RESPONSES, **API_RESPONSES} if settings.auth_required else API_RESPONSES

    def scoped(dependency: Any) -> list[Any]:
        return [Depends(dependency)] if settings.auth_required else []

    ingest, read = scoped(require(Scope.INGEST)), scoped(require(Scope.READ))
    admin = scoped(require(Scope.ADMIN))
    # Tokens and receivers concern every building: a token limited to buildings gets 403 (it
    # could otherwise issue itself an unlimited token, or read a receiver's credentials).
    every_building = [EVERY_BUILDING_ONLY] if settings.auth_required else []
    read_or_admin = scoped(require_by_method(Scope.READ, Scope.ADMIN))
    # Each feature router carries API_PREFIX (api/__init__.py) itself.
    app.include_router(capture_router, dependencies=ingest, responses=responses)
    app.include_router(average_router, dependencies=read, responses=responses)
    app.include_router(registry_router, dependencies=read_or_admin, responses=responses)
    app.include_router(sensors_router, dependencies=read_or_admin, responses=responses)
    app.include_router(token_router, dependencies=admin + every_building, responses=responses)
    # Deletes and their audit: admin only; the routes outside one building's path (a sensor
    # type, the audit naming tokens and every building) refuse scoped tokens themselves.
    app.include_router(deletion_router, dependencies=admin, responses=responses)
    app.include_router(export_router, dependencies=read, responses=responses)
    app.include_router(report_router, dependencies=read, responses=responses)
    app.include_router(live_router, dependencies=read, responses=responses)
    app.include_router(alert_rules_router, dependencies=read_or_admin, responses=responses)
    # Receivers' URLs can carry credentials (a Slack webhook's path is its token): admin only.
    app.include_router(
        alert_receivers_router, dependencies=admin + every_building, responses=responses
    )
    # Alerts: seeing them needs read; ack and silence change deliveries, so admin.
    app.include_router(alerts_router, dependencies=read_or_admin, responses=responses)
    # The dashboard page and its assets are open; its API calls carry a read token.
    app.include_router(dashboard_router)


def app_from_environment() -> FastAPI:
    """Factory for uvicorn workers: settings come from the environment."""
    return create_app(Settings())
