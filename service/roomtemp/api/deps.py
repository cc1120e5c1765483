"""Request dependencies: the app state, transactions, the clock, common parameters."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.api.state import AppState
from roomtemp.db.engine import current_revision
from roomtemp.db.failures import describe
from roomtemp.errors import ServiceUnavailable
from roomtemp.keys import KEY_MAX_LENGTH, KEY_PATTERN
from roomtemp.pagination import CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT

log = logging.getLogger(__name__)


# Dependencies are `async def` even when they never await: FastAPI runs plain `def` ones in a
# thread pool, a thread hop per request that costs more than the work.
# Each dependency below takes only the Request (resolved for free) rather than other
# dependencies: FastAPI's per-request cost grows with every dependency in the tree.
def _state(request: Request) -> AppState:
    state: AppState = request.app.state.roomtemp
    return state


async def app_state(request: Request) -> AppState:
    return _state(request)


State = Annotated[AppState, Depends(app_state)]


async def check_schema(state: AppState, *, recheck: bool = False) -> bool:
    """True once the database schema is at the migrations' head (remembered unless `recheck`)."""
    if recheck or not state.schema_ready:
        was_ready = state.schema_ready
        revision = await current_revision(state.engine)
        state.schema_ready = revision == state.head_revision
        if state.schema_ready and not was_ready:
            log.info("database schema is at head %s; serving", revision)
    return state.schema_ready


async def _ready(request: Request) -> AppState:
    state = _state(request)
    if not await check_schema(state):
        raise ServiceUnavailable(
            "the database schema is not at the latest revision; run `roomtemp migrate`",
            code="schema_not_ready",
        )
    return state


ReadyState = Annotated[AppState, Depends(_ready)]
ready_state = _ready  # the same check, for code that runs before dependencies (api/auth.py)


def transaction(state: AppState) -> AbstractAsyncContextManager[AsyncConnection]:
    """A transaction on the primary, committed when the block ends (rolled back on an error).

    The one way HTTP code opens one: through the `Transaction` dependency, or directly where a
    dependency would hold a connection the request may not need (POST /captures: single
    captures go to the batcher).
    """
    return state.engine.begin()


def primary_autocommit(state: AppState) -> AbstractAsyncContextManager[AsyncConnection]:
    """A connection on the primary in autocommit mode: one statement that must see the latest
    commit (the token check: a revoked token fails on the very next request) without the
    BEGIN and COMMIT round trips of a transaction."""
    return state.primary_read_engine.connect()


async def _transaction(request: Request) -> AsyncIterator[AsyncConnection]:
    # Committed when the endpoint returns, before the response is sent: a 201 means durable.
    async with transaction(await _ready(request)) as conn:
        yield conn


# scope="function": the transaction ends when the endpoint returns, not after the response.
Transaction = Annotated[AsyncConnection, Depends(_transaction, scope="function")]


async def _open_read_connection(state: AppState) -> AsyncConnection:
    if state.read_engine is not None:
        try:
            conn = await state.read_engine.connect().start()
        except sa_exc.OperationalError as exc:
            if not state.settings.db_read_fallback:
                raise ServiceUnavailable(
                    "the read database (DATABASE_READ_URL) is unreachable; retry later",
                    code="read_database_unavailable",
                ) from exc
            if not state.reading_from_primary:
                log.warning(
                    "read database unreachable (%s); reading from the primary", describe(exc)
                )
            state.reading_from_primary = True
        else:
            if state.reading_from_primary:
                log.info("read database reachable again; reads go to it")
            state.reading_from_primary = False
            return conn
    return await state.primary_read_engine.connect().start()


async def _read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    # Reads go to the standby when one is configured: they may lag the primary a little.
    # Both read engines are in autocommit mode: reads are single statements (or need no common
    # snapshot), so BEGIN and COMMIT would only add round trips.
    conn = await _open_read_connection(await _ready(request))
    try:
        yield conn
    finally:
        await conn.close()


#: A read-only connection on the standby (DATABASE_READ_URL), else on the primary.
ReadConnection = Annotated[AsyncConnection, Depends(_read_connection, scope="function")]


async def now(request: Request) -> datetime:
    return _state(request).clock()


Now = Annotated[datetime, Depends(now)]

PathKey = Annotated[str, Path(min_length=1, max_length=KEY_MAX_LENGTH, pattern=KEY_PATTERN)]
SensorTypeParam = Annotated[
    str,
    Query(
        min_length=1,
        max_length=KEY_MAX_LENGTH,
        pattern=KEY_PATTERN,
        description="Sensor type key",
    ),
]
#: The `tz` override of bucket series and reports; checked by timegrid.resolve_zone (422 on tz).
TzParam = Annotated[
    str | None,
    Query(
        # Documented, not enforced by FastAPI: every bad value gets the same invalid_input on tz.
        json_schema_extra={"maxLength": 64},
        description="IANA time zone (e.g. Europe/Zurich) of the local days, weeks, months and "
        "hours; default: the building's `time_zone`, else DEFAULT_TIME_ZONE",
        examples=["Europe/Zurich"],
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")]
Cursor = Annotated[
    str | None,
    Query(max_length=200, pattern=CURSOR_PATTERN, description="`next_cursor` of the previous page"),
]
DEFAULT_PAGE = DEFAULT_LIMIT
