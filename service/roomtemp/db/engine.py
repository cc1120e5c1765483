"""Engine construction and the few queries about the database itself (readiness)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from roomtemp.settings import Settings


def create_engine(settings: Settings, url: str, *, autocommit: bool = False) -> AsyncEngine:
    """An async engine with bounded pool, connect timeout, TCP timeouts and statement timeout.

    `autocommit`: for reads that are single statements; set once per connection, which saves
    a BEGIN and COMMIT per request and the per-checkout switch of isolation level. Those get
    the read timeouts (DB_READ_STATEMENT_TIMEOUT_MS, DB_READ_LOCK_TIMEOUT_MS).
    """
    # No ping per checkout (a round trip on every request): a connection that died with
    # the server fails one request, and SQLAlchemy then drops the whole pool.
    return _engine(settings, url, "roomtemp", autocommit=autocommit, pre_ping=False)


def create_read_engine(settings: Settings, url: str) -> AsyncEngine:
    """The engine for the read-only standby (DATABASE_READ_URL); same limits as the primary's."""
    # Reads are single statements (autocommit). A read route that tried to write fails even
    # if the "standby" is really a primary.
    return _engine(
        settings,
        url,
        "roomtemp-read",
        "default_transaction_read_only=on",
        autocommit=True,
        pre_ping=True,
    )


def _engine(
    settings: Settings,
    url: str,
    application_name: str,
    *gucs: str,
    autocommit: bool,
    pre_ping: bool,
) -> AsyncEngine:
    options: dict[str, str] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    reads = _read_timeouts(settings) if autocommit else {}
    return create_async_engine(
        url,
        **options,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=pre_ping,
        pool_recycle=1800,
        # Errors never carry capture data into logs (docs: request bodies are never logged).
        hide_parameters=True,
        connect_args=_connect_args(settings, application_name, *gucs, **reads),
    )


def _read_timeouts(settings: Settings) -> dict[str, int]:
    # The read statement timeout stays below the read request deadline: a read PostgreSQL
    # stopped (SQLSTATE 57014) ran too long (the request's shape), while a database that does
    # not answer at all hits the deadline first (503). A lock wait fails sooner (55P03, 503).
    return {
        "statement_timeout_ms": settings.db_read_statement_timeout_ms,
        "lock_timeout_ms": settings.db_read_lock_timeout_ms,
    }


def _connect_args(
    settings: Settings,
    application_name: str,
    *gucs: str,
    statement_timeout_ms: int | None = None,
    lock_timeout_ms: int = 0,
) -> dict[str, object]:
    args: dict[str, object] = {
        "connect_timeout": settings.db_connect_timeout_seconds,
        "application_name": application_name,
        "prepare_threshold": settings.prepare_threshold(),
        # A partitioned network or a vanished host: the kernel gives up on the connection
        # instead of letting a request or a pooled connection wait for TCP's ~15 minutes.
        # (A frozen server still acknowledges TCP: the request deadlines cover that.)
        "keepalives": 1,
        "keepalives_idle": settings.db_keepalives_idle_seconds,
        "keepalives_interval": 3,
        "keepalives_count": 3,
    }
    if settings.db_tcp_user_timeout_ms:
        args["tcp_user_timeout"] = settings.db_tcp_user_timeout_ms
    if not settings.db_pgbouncer:
        # One bad query must not pin a worker; sent at connect time, no per-request SET.
        # PgBouncer refuses `-c statement_timeout` in `options` (it is not a parameter it
        # tracks): behind PgBouncer, set it on the role instead (docs/scaling.md).
        timeout = (
            settings.db_statement_timeout_ms
            if statement_timeout_ms is None
            else statement_timeout_ms
        )
        options = [f"statement_timeout={timeout}", *gucs]
        if lock_timeout_ms:
            options.append(f"lock_timeout={lock_timeout_ms}")
        args["options"] = " ".join(f"-c {o}" for o in options)
    return args


async def current_revision(engine: AsyncEngine) -> str | None:
    """The Alembic revision the database is at, or None if it was never migrated."""
    async with engine.connect() as conn:
        exists = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
        if not exists:
            return None
        revision: str | None = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        return revision
