"""/docs and /redoc render in a real browser with no internet: every asset is same-origin."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route

from tests.system.browser.conftest import LiveServer, PageProblems


def _offline(page: Page, server: LiveServer) -> list[str]:
    """Abort every request to another origin (as without internet); returns what was tried."""
    origin = urlsplit(server.url).netloc
    tried: list[str] = []

    def handle(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == origin or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            tried.append(url)
            route.abort("internetdisconnected")

    page.route("**/*", handle)
    return tried


@pytest.mark.parametrize(
    ("path", "operation"),
    [("/docs", ".opblock-summary-path"), ("/redoc", "[data-section-id^='operation/']")],
)
def test_docs_render_offline(
    page: Page, live_server: LiveServer, page_problems: PageProblems, path: str, operation: str
) -> None:
    tried = _offline(page, live_server)
    page.goto(live_server.url + path)
    page.locator(operation).first.wait_for(timeout=20_000)
    assert page.locator(operation).count() > 5  # the operation list, from /openapi.json
    assert "/v1/captures" in page.content()
    assert tried == []
    # No script error and no CSP violation, except ReDoc's "powered by" logo from its CDN: the
    # policy blocks it (so nothing leaves the cluster) and the sidebar shows no logo.
    problems = [m for m in page_problems.messages if "cdn.redoc.ly/redoc/logo" not in m]
    assert problems == []
