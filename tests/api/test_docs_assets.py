"""/docs and /redoc reference only same-origin assets, served by the app (no CDN)."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ClientFactory

_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_docs_pages_use_only_same_origin_assets(client_factory: ClientFactory, path: str) -> None:
    client = client_factory()
    page = client.get(path)
    assert page.status_code == 200
    html = page.text
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    refs += re.findall(r"""url:\s*['"]([^'"]+)['"]""", html)
    assert "//" not in "".join(refs), refs  # no absolute or protocol-relative URL
    assert "cdn.jsdelivr" not in html
    assert "fonts.googleapis" not in html
    for ref in refs:
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        suffix = ref[ref.rfind(".") :]
        if suffix in _CONTENT_TYPES:
            assert asset.headers["content-type"].startswith(_CONTENT_TYPES[suffix]), ref
    csp = page.headers["content-security-policy"]
    assert "https:" not in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    # Each inline script is allowed by its hash, nothing else inline runs.
    for script in re.findall(r"<script>(.*?)</script>", html, re.DOTALL):
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp


def test_swagger_and_redoc_assets_are_served(client_factory: ClientFactory) -> None:
    client = client_factory()
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        asset = client.get(f"/docs/assets/{name}")
        assert asset.status_code == 200
        assert len(asset.content) > 100_000  # the real bundles, not a stub
        assert asset.headers["content-type"].startswith(_CONTENT_TYPES[name[name.rfind(".") :]])


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_behind_a_path_prefix(client_factory: ClientFactory, path: str) -> None:
    # Behind a proxy that strips /rt (root_path), every URL the page loads must carry /rt.
    client = TestClient(client_factory().app, root_path="/rt")
    html = client.get(path).text
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    refs += re.findall(r"""(?:url|spec-url|oauth2RedirectUrl):\s*['"]([^'"]+)['"]""", html)
    refs += re.findall(r"""spec-url=['"]([^'"]+)['"]""", html)
    assert "/rt/openapi.json" in refs
    assert any(r.startswith("/rt/docs/assets/") for r in refs)
    assert all(r.startswith("/rt/") for r in refs), refs
