"""Bearer-token authentication, scope checks and the per-token rate limit, as dependencies.

Attach to whole routers in app.py (`include_router(r, dependencies=[Depends(require(...))])`):
401 when the token is missing or wrong, 403 when it lacks the scope, 429 when it is too fast
or when its client address has failed authentication too often.

Tokens scoped to buildings (docs/operations.md, API tokens): the same check refuses a
`{building}` path outside the token's buildings (404 for GET, as for a building that does not
exist; 403 for writes). Every other /v1 route takes `Reach` (the buildings the caller reaches,
for its service to filter by) or `EVERY_BUILDING_ONLY` (refuses scoped tokens);
tests/auth/test_tenants.py walks the routes and fails on one that does neither. Routers built with
`route_class=AuthFirstRoute` run that check before FastAPI reads and validates the body and
the parameters, so an unauthenticated caller learns nothing about what a valid request is.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from roomtemp.api.deps import ReadyState, primary_autocommit, ready_state
from roomtemp.api.params import DeclaredParamsRoute
from roomtemp.auth import service
from roomtemp.auth.service import Principal, Scope
from roomtemp.errors import Forbidden
from roomtemp.obs.metrics import Metrics
from roomtemp.tenancy import EVERY_BUILDING, BuildingScope, unknown_building

_REALM = 'Bearer realm="roomtemp"'
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token from `roomtemp token create` or POST /v1/tokens",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token"},
    403: {"description": "The token lacks the scope, or writes to a building it is not limited to"},
    429: {
        "description": "Too many requests for this token, or too many failed authentications "
        "from this client address; see Retry-After"
    },
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


class FailureLimiter:
    """Failed authentications per client address, in this process: token buckets that only
    failures drain. An address with none left gets 429 before its token is even looked up,
    so guessing tokens costs the database nothing."""

    _MAX_ADDRESSES = 10_000

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _tokens(self, key: str, now: float) -> float:
        tokens, last = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - last) * self.rate)

    def wait(self, key: str) -> float:
        """0 when `key` may try again, else the seconds until it may."""
        if self.rate <= 0:
            return 0.0
        tokens = self._tokens(key, time.monotonic())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def failed(self, key: str) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) >= self._MAX_ADDRESSES:  # forget addresses that are refilled
                full = [k for k in self._buckets if self._tokens(k, now) >= self.burst]
                for k in full:
                    del self._buckets[k]
            self._buckets[key] = (max(0.0, self._tokens(key, now) - 1), now)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _too_many(seconds: float) -> HTTPException:
    return HTTPException(
        429,
        "too many failed authentications from this address; retry later",
        headers={"Retry-After": str(max(1, math.ceil(seconds)))},
    )


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
    if getattr(request.state, "authorized", False):  # AuthFirstRoute did it already
        principal: Principal | None = request.state.principal
        return principal
    metrics = state.metrics
    if credentials is None:
        raise _unauthorized("an API token is required", metrics, "missing", None)
    failures = state.auth_failure_limiter
    client = _client(request)
    if (blocked := failures.wait(client)) > 0:
        metrics.auth_throttled.inc()
        raise _too_many(blocked)
    key = settings.token_hash_key
    assert key is not None  # create_app refuses AUTH_REQUIRED without a key
    # On the primary, not the standby: a revoked token must fail on the very next request.
    async with primary_autocommit(state) as conn:
        principal = await service.authenticate(
            conn, key.get_secret_value().encode(), credentials.credentials
        )
    if principal is None:
        failures.failed(client)
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
    limiter = state.rate_limiter
    wait = limiter.acquire(principal.public_id)
    if wait > 0:
        metrics.rate_limited.labels(scope=scope.value).inc()
        raise HTTPException(
            429,
            "rate limit exceeded for this token; retry later",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    _check_building_path(request, principal.reach)
    request.state.principal = principal
    request.state.authorized = True
    return principal


def _check_building_path(request: Request, reach: BuildingScope) -> None:
    """The one check of every `/v1/buildings/{building}/…` route: outside the token's buildings
    a read is 404 exactly as for a building that does not exist, a write 403."""
    building = request.path_params.get("building")
    if building is None or reach.allows(building):
        return
    if request.method in ("GET", "HEAD"):
        raise unknown_building(building)
    raise Forbidden(f"this token is not allowed to write to building {building!r}")


async def building_scope(request: Request) -> BuildingScope:
    """The buildings the caller reaches: its token's (set by the auth check, which runs first),
    every building when authentication is off."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is not None:
        return principal.reach
    if request.app.state.roomtemp.settings.auth_required:
        # Fail closed: a route reached without the auth check must not see every building.
        raise RuntimeError(f"{request.url.path}: building scope asked before authentication")
    return EVERY_BUILDING


async def every_building(request: Request) -> None:
    """Refuses (403) tokens limited to buildings: the route concerns every building."""
    (await building_scope(request)).check_unlimited(f"{request.method} {request.url.path}")


#: The buildings the caller reaches; services filter by it (tenancy.BuildingScope).
Reach = Annotated[BuildingScope, Depends(building_scope)]
#: A route that only tokens reaching every building may use (tokens, receivers, sensor types).
EVERY_BUILDING_ONLY = Depends(every_building)


Dependency = Callable[[Request, ReadyState, Credentials], Awaitable[Principal | None]]
ScopeOf = Callable[[str], Scope]


def require(scope: Scope) -> Dependency:
    """A dependency that lets through only tokens with `scope`."""

    async def dependency(
        request: Request, state: ReadyState, credentials: Credentials
    ) -> Principal | None:
        return await _authorize(request, state, credentials, scope)

    dependency.scope_of = lambda _method: scope  # type: ignore[attr-defined]
    return dependency


def require_by_method(read: Scope, write: Scope) -> Dependency:
    """`read` for GET/HEAD, `write` for every other method (registry: read vs admin)."""

    def scope_of(method: str) -> Scope:
        return read if method in ("GET", "HEAD") else write

    async def dependency(
        request: Request, state: ReadyState, credentials: Credentials
    ) -> Principal | None:
        return await _authorize(request, state, credentials, scope_of(request.method))

    dependency.scope_of = scope_of  # type: ignore[attr-defined]
    return dependency


class AuthFirstRoute(DeclaredParamsRoute):
    """A route that authenticates before FastAPI reads the body or validates anything.

    FastAPI parses a JSON body before it runs any dependency, so a malformed body would get 400
    before a missing token got 401. This route runs the router's auth dependency (`require…`)
    first; the dependency then sees the request already authorized and only documents itself.
    Then DeclaredParamsRoute refuses undeclared query parameters, then FastAPI validates.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        scope_of: ScopeOf | None = next(
            (
                getattr(d.dependency, "scope_of")  # noqa: B009 - set by require…()
                for d in self._effective_dependencies()
                if hasattr(d.dependency, "scope_of")
            ),
            None,
        )
        if scope_of is None:  # no authentication on this route (AUTH_REQUIRED=false)
            return handler

        async def authenticate_first(request: Request) -> Response:
            state = await ready_state(request)
            credentials = await _bearer(request)
            await _authorize(request, state, credentials, scope_of(request.method))
            return await handler(request)

        return authenticate_first

    def _effective_dependencies(self) -> list[Any]:
        # The router-level auth dependency lives in FastAPI's inclusion context (see
        # effective_context); tests/auth/test_auth.py fails loudly if it is not found.
        effective = self.effective_context()
        return list(effective.dependencies if effective is not None else self.dependencies)
