"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from roomtemp.api.deps import State, check_schema
from roomtemp.api.state import AppState
from roomtemp.db.engine import current_revision

router = APIRouter(tags=["ops"])
T = TypeVar("T")


class _NoAnswer(Exception):
    pass


# Checks given up on; kept referenced until their cleanup ends (an unreferenced task may vanish).
_abandoned: set[asyncio.Task[Any]] = set()


async def _within(check: Coroutine[Any, Any, T], seconds: float) -> T:
    """`check`'s result, or _NoAnswer after `seconds`. A frozen database never answers, and
    cancelling a statement waits on it too (psycopg's cancel, up to 10 s): so the check runs
    in a task that is cancelled and left to clean up in the background."""
    task = asyncio.ensure_future(check)
    done, _ = await asyncio.wait((task,), timeout=seconds)
    if done:
        return task.result()
    task.cancel()
    _abandoned.add(task)
    task.add_done_callback(_forget)
    raise _NoAnswer


def _forget(task: asyncio.Task[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: its answer was given already


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


async def _read_database(state: AppState) -> tuple[bool, str]:
    """Whether the standby can serve reads, and what to say about it."""
    assert state.read_engine is not None
    try:
        revision = await current_revision(state.read_engine)
    except Exception as exc:  # unreachable standby
        if state.settings.db_read_fallback:
            return True, f"unreachable ({type(exc).__name__}); reading from the primary"
        return False, f"unreachable ({type(exc).__name__})"
    if revision != state.head_revision:
        return False, f"schema at {revision}, not {state.head_revision} (replica behind?)"
    return True, "ok"


@router.get("/readyz", responses={503: {"description": "Not ready"}})
async def readyz(state: State) -> JSONResponse:
    """Ready when the database (and the read database, if any) answers at the latest migration."""
    limit = state.settings.readyz_timeout_seconds
    try:
        ready = await _within(check_schema(state, recheck=True), limit)
    except _NoAnswer:
        state.metrics.request_deadlines.labels(kind="readyz").inc()
        return JSONResponse(
            {"status": "unavailable", "database": f"no answer within {limit:g} s"},
            status_code=503,
        )
    except Exception as exc:  # any failure to reach the database means "not ready"
        return JSONResponse(
            {"status": "unavailable", "database": f"unreachable ({type(exc).__name__})"},
            status_code=503,
        )
    if not ready:
        return JSONResponse(
            {"status": "unavailable", "database": "schema not at head; run `roomtemp migrate`"},
            status_code=503,
        )
    if state.read_engine is None:
        return JSONResponse({"status": "ready", "database": "ok"})
    try:
        read_ok, read_status = await _within(_read_database(state), limit)
    except _NoAnswer:
        read_ok, read_status = False, f"no answer within {limit:g} s"
    body = {"database": "ok", "read_database": read_status}
    if not read_ok:
        return JSONResponse({"status": "unavailable", **body}, status_code=503)
    return JSONResponse({"status": "ready", **body})
