"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from roomtemp.api.deps import State, check_schema
from roomtemp.api.state import AppState
from roomtemp.db.engine import current_revision

router = APIRouter(tags=["ops"])


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
    try:
        ready = await check_schema(state, recheck=True)
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
    read_ok, read_status = await _read_database(state)
    body = {"database": "ok", "read_database": read_status}
    if not read_ok:
        return JSONResponse({"status": "unavailable", **body}, status_code=503)
    return JSONResponse({"status": "ready", **body})
