"""Serves the dashboard page and its assets from the package data (no CDN, no build step).

The page is static: all data comes from the public /v1 API, fetched by the browser, so the
dashboard needs no server-side access of its own and works with the same API tokens.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request, Response

from roomtemp.errors import NotFound

router = APIRouter(include_in_schema=False)

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
ASSETS = (
    "index.html",
    "app.js",
    "lib.js",
    "overview.js",
    "room.js",
    "chart.js",
    "sensors.js",
    "live.js",
    "alerts.js",
    "style.css",
    "favicon.svg",
)

# No inline script or style anywhere: everything the page runs or styles comes from 'self'.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


@cache
def load_asset(name: str) -> Asset:
    """Read one asset from the package (once per process)."""
    if name not in ASSETS:
        raise NotFound(f"no dashboard asset {name!r}")
    body = resources.files(__package__).joinpath("static", name).read_bytes()
    suffix = name[name.rindex(".") :]
    return Asset(body, _TYPES[suffix], '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


def _serve(request: Request, name: str) -> Response:
    asset = load_asset(name)
    # Revalidate every time: cheap (304) and a new release is picked up at once.
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/")
async def index(request: Request) -> Response:
    """The dashboard page."""
    return _serve(request, "index.html")


@router.get("/dashboard/{name}")
async def asset(request: Request, name: str) -> Response:
    """A script, style sheet or icon of the dashboard."""
    return _serve(request, name)
