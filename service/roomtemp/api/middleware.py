"""ASGI middleware: request id, one access-log line and metrics per request, body size limit,
security headers. Pure ASGI (no BaseHTTPMiddleware) so streaming and background work stay intact.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import MutableMapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from roomtemp.api.errors import error_body, unexpected_error
from roomtemp.obs.logging import REQUEST_ID_HEADER, request_id_from, request_id_var
from roomtemp.obs.metrics import Metrics

log = logging.getLogger(__name__)
access_log = logging.getLogger("roomtemp.access")

# Applied to every response; HTML pages also get a Content-Security-Policy unless they set one.
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# Same-origin only: /docs and /redoc serve their assets themselves (api/docs.py, which sets its
# own policy with the hash of its inline script); inline styles are what HTML pages still need.
_HTML_CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; connect-src 'self'; "
    b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_UNMATCHED = "<unmatched>"


class _BodyTooLarge(Exception):
    pass


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else _UNMATCHED


class ObservabilityMiddleware:
    """Request id in and out, body limit, security headers, access log and request metrics."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(_header(scope, REQUEST_ID_HEADER.encode()))
        token = request_id_var.set(request_id)
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers: list[Any] = list(message.get("headers", []))
                names = {bytes(k).lower() for k, _ in headers}
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                headers.extend(h for h in _SECURITY_HEADERS if h[0] not in names)
                content_type = next((bytes(v) for k, v in headers if k == b"content-type"), b"")
                if (
                    content_type.startswith(b"text/html")
                    and b"content-security-policy" not in names
                ):
                    headers.append((b"content-security-policy", _HTML_CSP))
                message = {**message, "headers": headers}
            await send(message)

        self.metrics.http_in_progress.inc()
        try:
            receive = await self._limit_body(scope, receive)
            await self.app(scope, receive, send_wrapper)
        except _BodyTooLarge:
            status = 413
            if not response_started:
                await _send_json(
                    send_wrapper,
                    413,
                    error_body(
                        "payload_too_large",
                        f"the request body is larger than {self.max_body_bytes} bytes",
                    ),
                )
        except Exception as exc:
            # Answered here rather than by Starlette's ServerErrorMiddleware, which re-raises
            # after answering: uvicorn then closes the keep-alive connection and the client's
            # next request on it fails. A response already under way cannot be replaced: the
            # connection has to be dropped then, so the client sees the truncation.
            if response_started:
                raise
            response = await unexpected_error(Request(scope), exc)
            await response(scope, receive, send_wrapper)
        finally:
            self.metrics.http_in_progress.dec()
            duration = time.perf_counter() - started
            route = _route_template(scope)
            method = scope["method"]
            labels = {"method": method, "route": route, "status": str(status)}
            self.metrics.http_requests.labels(**labels).inc()
            self.metrics.http_duration.labels(**labels).observe(duration)
            client = scope.get("client")
            access_log.info(
                "%s %s %s",
                method,
                route,
                status,
                extra={
                    "method": method,
                    "route": route,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(duration * 1000, 2),
                    "client": client[0] if client else None,
                },
            )
            request_id_var.reset(token)

    async def _limit_body(self, scope: Scope, receive: Receive) -> Receive:
        """Refuse bodies over the limit before the app reads them (413)."""
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_body_bytes:
                raise _BodyTooLarge
            return receive  # the server enforces Content-Length itself
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return receive
        # Chunked upload of unknown size: read it here, counting, then replay it to the app.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                raise _BodyTooLarge
            if not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replay_receive() -> Message:
            return next(replay, None) or await receive()

        return replay_receive


async def _send_json(
    send: Send,
    status: int,
    body: MutableMapping[str, Any],
    *,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    close: bool = True,
) -> None:
    payload = orjson.dumps(body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *(extra_headers or []),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class DeadlineMiddleware:
    """Every request is answered within its deadline: 503 database_unavailable + Retry-After.

    A frozen PostgreSQL (SIGSTOP, a partition, a lock pile-up) still acknowledges TCP, so no
    driver or server timeout ends a statement already sent, and psycopg's own cancel on
    interruption waits up to 10 s more for the server. So the request runs in a task of its
    own; at the deadline it is answered here and the task is cancelled and left to finish its
    cleanup (psycopg cancels the statement, SQLAlchemy drops the connection) in the background.
    The deadline holds until the response starts: a started stream is not cut off.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics, read: float, write: float) -> None:
        self.app = app
        self.metrics = metrics
        self.read = read
        self.write = write
        self._abandoned: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = "read" if scope["method"] in ("GET", "HEAD", "OPTIONS") else "write"
        limit = self.read if kind == "read" else self.write
        started = False
        abandoned = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if abandoned:  # answered already, by the deadline
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, guarded_send))
        try:
            done, _ = await asyncio.wait((task,), timeout=limit)
            if done or started:
                await task  # its result or exception; a started response runs to its end
                return
        except asyncio.CancelledError:
            task.cancel()
            raise
        abandoned = True
        task.cancel()
        self._abandoned.add(task)
        task.add_done_callback(self._finished)
        self.metrics.request_deadlines.labels(kind=kind).inc()
        self.metrics.db_unavailable.inc()
        log.warning("no answer within the %s deadline of %g s; answered 503", kind, limit)
        await _send_json(
            send,
            503,
            error_body(
                "database_unavailable", "the database is unavailable or too slow; retry later"
            ),
            extra_headers=[(b"retry-after", b"1")],
            close=False,
        )

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Its answer was the 503 already; the class is enough (the text may carry data).
            log.info("abandoned request ended with %s", type(task.exception()).__name__)
