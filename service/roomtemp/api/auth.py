"""Bearer-token authentication, scope checks and the per-token rate limit, as dependencies.

Attach to whole routers in app.py (`include_router(r, dependencies=[Depends(require(...))])`):
401 when the token is missing or wrong, 403 when it lacks the scope, 429 when it is too fast.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from roomtemp.api.deps import ReadyState
from roomtemp.auth import service
from roomtemp.auth.service import Principal, Scope
from roomtemp.obs.metrics import Metrics

_REALM = 'Bearer realm="roomtemp"'
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token from `roomtemp token create` or POST /v1/tokens",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "The token lacks the scope"},
    429: {"description": "Too many requests for this token; see Retry-After"},
}


class RateLimiter:
    """Token buckets per API token, in this process: `rate`/s sustained, `burst` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """0 when allowed, else the seconds until the next request would be."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


def _unauthorized(message: str, metrics: Metrics, reason: str, error: str | None) -> HTTPException:
    metrics.auth_failures.labels(reason=reason).inc()
    challenge = _REALM + (f', error="{error}"' if error else "")
    return HTTPException(401, message, headers={"WWW-Authenticate": challenge})


async def _authorize(
    request: Request, state: ReadyState, credentials: Credentials, scope: Scope
) -> Principal | None:
    settings = state.settings
    if not settings.auth_required:
        return None
    metrics: Metrics = request.app.state.metrics
    if credentials is None:
        raise _unauthorized("an API token is required", metrics, "missing", None)
    key = settings.token_hash_key
    assert key is not None  # create_app refuses AUTH_REQUIRED without a key
    async with state.engine.connect() as conn:
        principal = await service.authenticate(
            conn, key.get_secret_value().encode(), credentials.credentials
        )
    if principal is None:
        raise _unauthorized(
            "the API token is invalid or revoked", metrics, "invalid", "invalid_token"
        )
    if scope.value not in principal.scopes:
        metrics.auth_failures.labels(reason="scope").inc()
        raise HTTPException(
            403,
            f"the token lacks the {scope.value!r} scope",
            headers={
                "WWW-Authenticate": f'{_REALM}, error="insufficient_scope", scope="{scope.value}"'
            },
        )
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.acquire(principal.public_id)
    if wait > 0:
        metrics.rate_limited.labels(scope=scope.value).inc()
        raise HTTPException(
            429,
            "rate limit exceeded for this token; retry later",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    request.state.principal = principal
    return principal


Dependency = Callable[[Request, ReadyState, Credentials], Awaitable[Principal | None]]


def require(scope: Scope) -> Dependency:
    """A dependency that lets through only tokens with `scope`."""

    async def dependency(
        request: Request, state: ReadyState, credentials: Credentials
    ) -> Principal | None:
        return await _authorize(request, state, credentials, scope)

    return dependency


def require_by_method(read: Scope, write: Scope) -> Dependency:
    """`read` for GET/HEAD, `write` for every other method (registry: read vs admin)."""

    async def dependency(
        request: Request, state: ReadyState, credentials: Credentials
    ) -> Principal | None:
        scope = read if request.method in ("GET", "HEAD") else write
        return await _authorize(request, state, credentials, scope)

    return dependency
