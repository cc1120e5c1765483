"""Query parameters a route does not declare are refused (422), not silently ignored.

A misspelt `step` or a `tz` sent to a server that does not know it would otherwise give an
answer that looks right and is not. One route class does it for every /v1 route (the routers'
AuthFirstRoute derives from it), so no route can forget.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import fastapi.routing
from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from roomtemp.errors import ErrorDetail, InvalidInput

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
UNKNOWN = "unknown parameter"


def declared_query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameter names (aliases: `from`, not `from_`) of a route and its dependencies."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        names.update(field.alias for field in current.query_params)
        pending.extend(current.dependencies)
    return frozenset(names)


def unknown_parameters(names: list[str], declared: frozenset[str]) -> InvalidInput | None:
    """The error for the names not in `declared` (one detail each, in request order), or None."""
    unknown = [name for name in names if name not in declared]
    if not unknown:
        return None
    listed = ", ".join(repr(n) for n in unknown[:5]) + (", …" if len(unknown) > 5 else "")
    return InvalidInput(
        f"unknown query parameter(s) {listed}; this operation does not take them",
        [ErrorDetail(UNKNOWN, field=name, code="unknown_parameter") for name in unknown],
    )


class DeclaredParamsRoute(APIRoute):
    """A route that answers 422 invalid_input when the query names a parameter it does not
    declare (one detail per unknown name, `field` = the name)."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        declared = declared_query_names(self.effective_dependant())

        async def checked(request: Request) -> Response:
            # keys() has each name once, in the order the request first gives it.
            error = unknown_parameters(list(request.query_params.keys()), declared)
            if error is not None:
                raise error
            return await handler(request)

        return checked

    def effective_dependant(self) -> Dependant:
        """The dependant FastAPI builds the handler from (with the router's dependencies)."""
        effective = self.effective_context()
        dependant: Dependant = effective.dependant if effective is not None else self.dependant
        return dependant

    def effective_context(self) -> Any | None:
        # FastAPI 0.165 builds the handler of an included route on the original route, with the
        # inclusion (prefix, router-level dependencies) in a context variable, the way
        # APIRoute.get_route_handler reads it; older versions copied the route instead.
        context_var = getattr(fastapi.routing, "_effective_route_context_var", None)
        effective = context_var.get() if context_var is not None else None
        if effective is not None and effective.original_route is self:
            return effective
        return None
