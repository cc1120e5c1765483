"""Settings for the read/write split and PgBouncer, and what the engines send at connect time."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from roomtemp.db.engine import _connect_args, create_engine, create_read_engine
from roomtemp.settings import Settings
from tests.conftest import make_settings
from tests.threads import run_async


def test_read_url_from_url_or_parts() -> None:
    assert make_settings().read_url() is None
    by_url = make_settings(database_read_url="postgres://u:p@ro:5432/db")
    assert by_url.read_url() == "postgresql+psycopg://u:p@ro:5432/db"
    by_parts = make_settings(
        db_host="rw", db_read_host="ro", db_password="pw", db_sslmode="require"
    )
    assert (
        by_parts.sqlalchemy_url()
        == "postgresql+psycopg://roomtemp:pw@rw:5432/roomtemp?sslmode=require"
    )
    assert (
        by_parts.read_url() == "postgresql+psycopg://roomtemp:pw@ro:5432/roomtemp?sslmode=require"
    )


def test_read_host_needs_the_parts() -> None:
    with pytest.raises(ValidationError, match="DATABASE_READ_URL"):
        make_settings(database_url="postgresql://u:p@rw/db", db_read_host="ro")
    with pytest.raises(ValidationError, match="unsupported database URL scheme"):
        make_settings(database_read_url="mysql://u:p@ro/db")


@pytest.mark.parametrize(
    ("raw", "expected"), [("3", 3), ("0", 0), ("", None), ("none", None), ("NULL", None)]
)
def test_prepare_threshold_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: int | None
) -> None:
    monkeypatch.setenv("DB_PREPARE_THRESHOLD", raw)
    settings = make_settings()
    assert settings.prepare_threshold() == expected
    monkeypatch.setenv("DB_PGBOUNCER", "true")
    assert make_settings().prepare_threshold() is None


def test_connect_args_with_and_without_pgbouncer() -> None:
    direct = _connect_args(make_settings(db_statement_timeout_ms=1234), "roomtemp")
    assert direct["options"] == "-c statement_timeout=1234"
    assert direct["prepare_threshold"] == 5
    pooled = _connect_args(make_settings(db_pgbouncer=True), "roomtemp")
    assert "options" not in pooled
    assert pooled["prepare_threshold"] is None


def test_what_the_server_sees(database_url: str) -> None:
    """On a real server: the timeout is set directly, absent in PgBouncer mode; reads read-only."""

    async def show(
        engine_factory: Callable[[Settings, str], AsyncEngine], **overrides: object
    ) -> tuple[str, str]:
        settings = make_settings(
            db_statement_timeout_ms=4321, db_read_statement_timeout_ms=1234, **overrides
        )
        engine = engine_factory(settings, database_url)
        try:
            async with engine.connect() as conn:
                timeout = await conn.scalar(text("SHOW statement_timeout"))
                read_only = await conn.scalar(text("SHOW transaction_read_only"))
                return str(timeout), str(read_only)
        finally:
            await engine.dispose()

    assert run_async(show(create_engine)) == ("4321ms", "off")
    # Reads have their own, shorter timeout (docs/operations.md, Timeouts).
    assert run_async(show(create_read_engine)) == ("1234ms", "on")
    assert run_async(show(create_engine, db_pgbouncer=True)) == ("0", "off")
