"""/docs (Swagger UI) and /redoc with their scripts and styles served by the app itself.

FastAPI's own pages load them from a CDN: blank without internet, in air-gapped clusters, or
under a strict Content-Security-Policy. The assets come from the `fastapi-offline` wheel; each
page gets a CSP that allows only same-origin scripts plus the hash of its one inline script.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs/assets"
_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
# Swagger UI and ReDoc set inline styles, and ReDoc runs its search in a worker made from a blob.
_CSP = (
    "default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _with_csp(page: HTMLResponse) -> HTMLResponse:
    """The page with a CSP naming the SHA-256 of each inline script it carries."""
    body = bytes(page.body).decode()
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in _INLINE_SCRIPT.findall(body)
    )
    page.headers["Content-Security-Policy"] = _CSP.format(hashes=hashes)
    return page


def install(app: FastAPI) -> None:
    """Add /docs, its OAuth2 redirect page, /redoc and the assets (build the app with
    docs_url=None and redoc_url=None)."""
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    app.mount(ASSETS_PATH, StaticFiles(directory=_ASSETS_DIR), name="docs-assets")

    def page(
        request: Request, render: Callable[..., HTMLResponse], tool: str, **urls: str
    ) -> HTMLResponse:
        # Behind a proxy that strips a path prefix (root_path), every URL the page loads must
        # carry that prefix: the schema, the assets, the OAuth2 redirect.
        root = request.scope.get("root_path", "")
        rooted = {name: f"{root}{url}" for name, url in urls.items()}
        return _with_csp(
            render(title=f"{app.title} - {tool}", openapi_url=f"{root}{openapi_url}", **rooted)
        )

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return page(
            request,
            functools.partial(
                get_swagger_ui_html,
                # Off: the validator badge is an image from validator.swagger.io.
                swagger_ui_parameters={"validatorUrl": None, **(app.swagger_ui_parameters or {})},
            ),
            "Swagger UI",
            oauth2_redirect_url=oauth2_redirect_url,
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return _with_csp(get_swagger_ui_oauth2_redirect_html())

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return page(
            request,
            functools.partial(get_redoc_html, with_google_fonts=False),
            "ReDoc",
            redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
        )
