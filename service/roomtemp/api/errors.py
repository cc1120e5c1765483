"""Maps every failure to a status code and the one JSON error envelope."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from roomtemp.api.state import AppState
from roomtemp.db.failures import describe, is_database_down, sqlstate
from roomtemp.errors import (
    Conflict,
    DomainError,
    ErrorDetail,
    Forbidden,
    InvalidInput,
    MalformedRequest,
    NotConfigured,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
)
from roomtemp.errors import details_from_pydantic as details_from_pydantic

log = logging.getLogger(__name__)

STATUS: dict[type[DomainError], int] = {
    InvalidInput: 422,
    MalformedRequest: 400,
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    PayloadTooLarge: 413,
    ServiceUnavailable: 503,
    NotConfigured: 409,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def error_body(code: str, message: str, details: Sequence[ErrorDetail] = ()) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": [d.as_dict() for d in details]}}


def error_response(
    status: int,
    code: str,
    message: str,
    details: Sequence[ErrorDetail] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = next((s for t, s in STATUS.items() if isinstance(exc, t)), 400)
    retry = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry)} if retry is not None else None
    return error_response(status, exc.code, exc.message, exc.details, headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = details_from_pydantic(exc.errors())
    if any(d.code == "json_invalid" for d in details):
        return error_response(400, "malformed_request", "the body is not valid JSON", details)
    return error_response(422, "validation_error", "the request is invalid", details)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str | None:
    """Every method any route serves on this path (Starlette names only the first route's)."""
    methods = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(methods) if methods else None


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (allow := _allowed_methods(request)):
        headers["Allow"] = allow
    return error_response(exc.status_code, code, message, headers=headers)


_READ_METHODS = ("GET", "HEAD")


def _is_read_statement_timeout(request: Request, exc: BaseException) -> bool:
    # Reads run with a statement_timeout below their request deadline (db/engine.py): when
    # PostgreSQL stops one (57014), the server was answering and the query itself ran too
    # long. A frozen server never gets there (the deadline answers 503 first), a lock wait
    # fails with 55P03 (lock_timeout), and a write's timeout stays an outage (503).
    return request.method in _READ_METHODS and sqlstate(exc) == "57014"


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """503 when the database is down, 422 for data it refuses or a read that ran too long,
    else a logged 500."""
    # An error before the lifespan built the state (none in practice) still gets its answer.
    state: AppState | None = getattr(request.app.state, "roomtemp", None)
    metrics = None if state is None else state.metrics
    if _is_read_statement_timeout(request, exc):
        if metrics is not None:
            metrics.db_statement_timeouts.inc()
        log.info("read stopped at its statement timeout (%s)", describe(exc))
        message = (
            "the query ran longer than the database allows for a read; narrow the range, "
            "widen the step, or use a step and window that are multiples of 15 minutes"
        )
        return error_response(
            422,
            "query_too_expensive",
            message,
            [ErrorDetail(message, code="statement_timeout")],
        )
    if is_database_down(exc):
        if metrics is not None:
            metrics.db_unavailable.inc()
            if isinstance(exc, sa_exc.TimeoutError):
                metrics.db_pool_timeouts.inc()
        log.warning("database unavailable: %s", type(exc).__name__)
        return error_response(
            503,
            "database_unavailable",
            "the database is unavailable or too slow; retry later",
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, psycopg.DataError) or (
        isinstance(exc, sa_exc.DBAPIError) and isinstance(exc.orig, psycopg.DataError)
    ):
        # SQLSTATE class 22 or refused by the driver (e.g. a NUL byte in a text): bad input that
        # passed validation, not a server fault.
        log.info("input refused by the database: %s", type(getattr(exc, "orig", exc)).__name__)
        return error_response(
            422, "invalid_data", "the request contains data the database cannot store"
        )
    if sqlstate(exc) == "23503":
        # foreign_key_violation: a building, room or sensor the request resolved was deleted
        # (DELETE, admin) before the request wrote what refers to it. Retrying resolves again.
        log.info("write refers to a row deleted meanwhile (%s)", describe(exc))
        return error_response(
            409,
            "deleted_meanwhile",
            "a building, room, sensor or sensor type this request names was deleted while it "
            "ran; retry",
        )
    log_unexpected(exc)
    return error_response(500, "internal_error", "internal server error")


def log_unexpected(exc: BaseException) -> None:
    """Log an unhandled error with its stack; a database error without its text (its bound
    parameters and PostgreSQL's message quote the request's data)."""
    if isinstance(exc, sa_exc.SQLAlchemyError | psycopg.Error):
        stack = "".join(traceback.format_tb(exc.__traceback__))
        log.error("unhandled error: %s\n%s", describe(exc), stack)
    else:
        log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)


async def _client_gone(_: Request, exc: Exception) -> Response:
    # The client hung up before its request was read (e.g. its timeout): nobody gets this answer,
    # and it is not a server error. 499 as in nginx, so metrics and logs tell it apart.
    log.info("client disconnected before the request was read")
    return Response(status_code=499)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(sa_exc.SQLAlchemyError, unexpected_error)
    app.add_exception_handler(psycopg.Error, unexpected_error)
    app.add_exception_handler(OSError, unexpected_error)
    # Any other exception is answered by ObservabilityMiddleware (api/middleware.py): Starlette
    # hands an `Exception` handler to ServerErrorMiddleware, which re-raises after answering, and
    # uvicorn then drops the keep-alive connection. This one is the last resort only.
    app.add_exception_handler(Exception, unexpected_error)
