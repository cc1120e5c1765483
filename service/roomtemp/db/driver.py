"""The few statements called thousands of times a second, run on the psycopg connection itself.

SQLAlchemy's execution layer (compiled-statement cache lookup, execution context, result
metadata) cost about 0.35 ms of CPU per statement, measured in-process: as much as the
dashboards' latest-average query takes in PostgreSQL. These statements keep their SQL as
`text()` constants in their queries module (the one place for SQL), are compiled once to
psycopg's parameter style, and run on the connection SQLAlchemy checked out: same pool, same
transaction state, and psycopg's automatic prepared statements (`DB_PREPARE_THRESHOLD`; none
behind PgBouncer). Their latency still reaches `roomtemp_db_query_duration_seconds`: the engine's
instrumentation leaves an observer in each pooled connection's `info`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import TextClause
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

#: Key in a pooled connection's `info`: called with (query name, seconds) after each statement.
OBSERVER = "roomtemp.query_observer"

_DIALECT = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
_compiled: dict[TextClause, str] = {}
_compiled_binary: dict[TextClause, str] = {}
_PARAM = re.compile(r"%\((\w+)\)s")


def psycopg_sql(stmt: TextClause) -> str:
    """`stmt` as psycopg takes it (`%(name)s` parameters), compiled once."""
    sql = _compiled.get(stmt)
    if sql is None:
        sql = _compiled[stmt] = str(stmt.compile(dialect=_DIALECT))
    return sql


def _observed(info: Mapping[Any, Any], name: str, started: float) -> None:
    """Report a statement's latency to the engine's observer left in the connection's info."""
    observe: Callable[[str, float], None] | None = info.get(OBSERVER)
    if observe is not None:
        observe(name, time.perf_counter() - started)


async def fetch_one(
    conn: AsyncConnection, stmt: TextClause, params: Mapping[str, Any], *, name: str
) -> tuple[Any, ...] | None:
    """The first row of `stmt` (None if none); `name` labels its latency metric."""
    fairy = await conn.get_raw_connection()
    driver = fairy.driver_connection
    assert driver is not None
    started = time.perf_counter()
    # A connection that dies here is dropped by the pool when its rollback on return fails
    # (tests/integration/test_driver_statements.py).
    cursor = await driver.execute(psycopg_sql(stmt), params)
    row: tuple[Any, ...] | None = await cursor.fetchone()
    _observed(fairy.info, name, started)
    return row


async def fetch_all(
    conn: AsyncConnection, stmt: TextClause, params: Mapping[str, Any], *, name: str
) -> list[tuple[Any, ...]]:
    """Every row of `stmt`; `name` labels its latency metric."""
    fairy = await conn.get_raw_connection()
    driver = fairy.driver_connection
    assert driver is not None
    started = time.perf_counter()
    cursor = await driver.execute(psycopg_sql(stmt), params)
    rows: list[tuple[Any, ...]] = await cursor.fetchall() if cursor.description else []
    _observed(fairy.info, name, started)
    return rows


async def fetch_all_binary(
    conn: AsyncConnection, stmt: TextClause, params: Mapping[str, Any], *, name: str
) -> list[tuple[Any, ...]]:
    """Every row of `stmt`, its parameters and results in PostgreSQL's binary format.

    For the bulk statements whose parameters are long arrays (a batch as one array per column):
    in the text format psycopg quotes every element (a regular expression per element), which
    for 28,000 timestamps costs 0.25 s of CPU against 0.024 s in binary. Parameters must be
    CAST in the SQL (their types are then exact whatever the driver sends)."""
    sql = _compiled_binary.get(stmt)
    if sql is None:
        sql = _compiled_binary[stmt] = _PARAM.sub(r"%(\1)b", psycopg_sql(stmt))
    fairy = await conn.get_raw_connection()
    driver = fairy.driver_connection
    assert driver is not None
    started = time.perf_counter()
    cursor = driver.cursor(binary=True)
    await cursor.execute(sql, params)
    rows: list[tuple[Any, ...]] = await cursor.fetchall() if cursor.description else []
    _observed(fairy.info, name, started)
    return rows
