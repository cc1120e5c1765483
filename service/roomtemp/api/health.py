"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from roomtemp.api.deps import State, check_schema

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready"}})
async def readyz(state: State) -> JSONResponse:
    """Ready when the database answers and its schema is at the latest migration."""
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
    return JSONResponse({"status": "ready", "database": "ok"})
