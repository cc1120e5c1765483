"""The dashboard in a real browser (Debian's Chromium) against a live `roomtemp serve`."""

from __future__ import annotations

import inspect
import json
import os
import re
import secrets
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from roomtemp.average import routes as average_routes
from roomtemp.settings import Settings
from tests.system.browser import seed
from tests.system.browser.conftest import ARTIFACTS, LiveServer, PageProblems, screenshot, serve

SYMBOL = {"celsius": "°C", "kelvin": "K", "fahrenheit": "°F"}
# Bucket mode (mode=buckets, issue 16) is in the service: the page asks for it on long steps.
BUCKETS = "mode" in inspect.signature(average_routes.get_room_series).parameters


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _unnamed_controls(page: Page) -> list[str]:
    """Form controls without a label and links or buttons without text (screen readers)."""
    result: list[str] = page.evaluate(
        """() => [...document.querySelectorAll("input, button, a, select, textarea")]
          .filter((el) => !el.closest("[hidden]"))
          .filter((el) => el.matches("input, select, textarea")
            ? !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
            : !el.textContent.trim() && !el.getAttribute("aria-label"))
          .map((el) => el.outerHTML)"""
    )
    return result


def _check_overview(page: Page, server: LiveServer, unit: str) -> None:
    rows = page.locator("tr.room")
    expect(rows).to_have_count(len(seed.RECENT) + 1)
    expect(page.locator("thead th").first).to_be_visible()
    expect(page.locator("section.building[data-building='hq'] thead")).to_contain_text(
        f"Mean {SYMBOL[unit]}"
    )
    start = server.t0 - timedelta(minutes=15)
    for (b, r), values in seed.RECENT.items():
        row = page.locator(f"section[data-building='{b}'] tr.room[data-room='{r}']")
        expected = seed.window_stats(server.data, b, r, start, server.t0 + timedelta(minutes=5))
        assert expected.count == len(values)
        assert expected.mean is not None
        assert expected.min is not None
        assert expected.max is not None
        cells = row.locator("td")
        for i, celsius in enumerate((expected.mean, expected.min, expected.max)):
            want = seed.celsius_to(unit, celsius)
            assert float(cells.nth(i).get_attribute("data-value") or "nan") == pytest.approx(
                want, abs=1e-9
            )
            expect(cells.nth(i)).to_have_text(f"{want:.1f}")
        expect(cells.nth(3)).to_have_text(str(len(values)))
        low, high = seed.COMFORT_C
        status = "cold" if expected.mean < low else "warm" if expected.mean > high else "ok"
        expect(row).to_have_class(re.compile(rf"\b{status}\b"))
        expect(row.locator(".badge.silent")).to_have_count(0)
        expect(row.locator("td.status .badge")).to_have_text(
            {"cold": "cold", "warm": "warm", "ok": "comfortable"}[status]
        )
    attic = page.locator("section[data-building='hq'] tr.room[data-room='attic']")
    expect(attic.locator("td").nth(3)).to_have_text("0")
    expect(attic.locator(".badge.nodata")).to_have_text("no data")
    expect(attic.locator(".badge.silent")).to_have_text("silent")
    expect(attic.locator("td.age")).to_have_text("2 h ago")
    # Rooms that need attention first: silent, then out of comfort (by key), then the rest.
    hq = page.locator("section[data-building='hq']")
    assert hq.locator("tr.room").evaluate_all("rs => rs.map(r => r.dataset.room)") == [
        "attic",
        "lobby",
        "server",
        "3.14",
    ]
    # What a reader sees first for a building: how many rooms need attention, in words.
    expect(hq.locator("p.summary")).to_have_text(
        "4 rooms · 1 silent · 1 cold · 1 warm · 1 comfortable · 1 no data"
    )
    expect(page.locator("section[data-building='annex'] p.summary")).to_have_text(
        "1 room · 1 comfortable"
    )
    low, high = (seed.celsius_to(unit, c) for c in seed.COMFORT_C)
    expect(page.locator("p.legend")).to_contain_text(
        f"comfortable {low:.1f}\N{EN DASH}{high:.1f} {SYMBOL[unit]}, cold below, warm above; "
        f"silent = no capture for more than {seed.SILENT_MINUTES} min"
    )


def test_overview_lists_every_room_with_its_average(
    page: Page, live_server: LiveServer, page_problems: PageProblems
) -> None:
    page.goto(live_server.url + "/")
    expect(page.locator("body[data-state='ready']")).to_be_attached()
    expect(page.locator("section.building")).to_have_count(2)
    expect(page.locator("section[data-building='hq'] h3")).to_have_text("Headquarters (hq)")
    _check_overview(page, live_server, "celsius")
    screenshot(page, "overview")
    assert _unnamed_controls(page) == []
    # First paint, for the report only (timings are never asserted).
    paint = page.evaluate(
        "JSON.stringify([...performance.getEntriesByType('paint'), "
        "...performance.getEntriesByType('mark')].map(e => [e.name, e.startTime]))"
    )
    (ARTIFACTS / "paint.json").write_text(paint)
    assert page_problems.messages == []


def test_unit_switch_changes_the_values(
    page: Page, live_server: LiveServer, page_problems: PageProblems
) -> None:
    page.goto(live_server.url + "/")
    expect(page.locator("body[data-state='ready']")).to_be_attached()
    lobby = page.locator("section[data-building='hq'] tr.room[data-room='lobby'] td").first
    expect(lobby).to_have_text("18.4")
    for unit in ("fahrenheit", "kelvin", "celsius"):
        page.get_by_label(SYMBOL[unit], exact=True).check()
        expect(page.locator("section[data-building='hq'] thead")).to_contain_text(
            f"Mean {SYMBOL[unit]}"
        )
        _check_overview(page, live_server, unit)
        if unit == "fahrenheit":
            expect(lobby).to_have_text("65.1")
            screenshot(page, "overview-fahrenheit")
    # The choice is remembered across a reload.
    page.get_by_label("K", exact=True).check()
    page.reload()
    expect(page.locator("body[data-state='ready']")).to_be_attached()
    expect(lobby).to_have_text(f"{18.4 + 273.15:.1f}")
    assert page_problems.messages == []


def test_room_chart_has_one_vertex_per_point_with_data(
    page: Page, live_server: LiveServer, page_problems: PageProblems
) -> None:
    t0 = live_server.t0
    start, end = t0 - timedelta(hours=6), t0
    page.goto(f"{live_server.url}/#/room/hq/3.14?from={_iso(start)}&to={_iso(end)}")
    expect(page.locator("body[data-state='ready']")).to_be_attached()
    chart = page.locator("svg.chart")
    expect(chart).to_be_visible()
    # 6 hours → the page picks a 1-minute step; the expectation comes from the seed alone.
    total, with_data, runs = seed.series_points_with_data(
        live_server.data, "hq", "3.14", start, end, timedelta(minutes=1)
    )
    # Gaps: 4-5 minutes before T0 (between the recent cluster and history) and 50 minutes
    # around the missing hour; each breaks the line and the band.
    assert (total, with_data, runs) == (360, 308, 3)
    expect(page.locator("figcaption .summary")).to_contain_text(
        f"step 1m · {total} points, {with_data} with data"
    )
    d = page.locator("path.mean").get_attribute("d") or ""
    assert len(re.findall(r"[ML]-?[\d.]+,-?[\d.]+", d)) == with_data
    assert d.count("M") == runs
    expect(page.locator("path.band")).to_have_count(runs)
    captures = [c for c in live_server.data if (c.building, c.room) == ("hq", "3.14")]
    in_range = [c for c in captures if start < c.ts <= end]
    expect(page.locator("circle.capture")).to_have_count(len(in_range))
    expect(page.locator("details.data tbody tr")).to_have_count(total)
    # Keyboard: focus the chart, step back from the newest point.
    chart.focus()
    page.keyboard.press("ArrowLeft")
    expect(page.locator(".readout")).to_contain_text("mean 21.67 °C")
    screenshot(page, "room")
    assert _unnamed_controls(page) == []
    assert page_problems.messages == []


def test_room_presets_and_unit(
    page: Page, live_server: LiveServer, page_problems: PageProblems
) -> None:
    page.goto(f"{live_server.url}/#/room/hq/3.14?range=24h")
    expect(page.locator("body[data-state='ready']")).to_be_attached()
    expect(page.locator("a.range[aria-current='true']")).to_have_text("Last 24h")
    expect(page.locator("figcaption .summary")).to_contain_text("step 5m · 288 points")
    expect(page.locator("circle.capture")).to_have_count(0)  # not zoomed in: no capture dots
    expected = seed.window_stats(
        live_server.data, "hq", "3.14", live_server.t0 - timedelta(minutes=15), live_server.t0
    )
    assert expected.mean is not None
    expect(page.locator("dl.latest dd.mean")).to_have_text(f"{expected.mean:.1f} °C")
    page.get_by_label("°F", exact=True).check()
    expect(page.locator("dl.latest dd.mean")).to_have_text(
        f"{seed.celsius_to('fahrenheit', expected.mean):.1f} °F"
    )
    expect(page.locator("figcaption .meaning")).to_have_text("15-min rolling average")
    page.get_by_role("link", name="Last 7d").click()
    # A 30-minute step is longer than the 15-minute window: buckets, where the service has them.
    expect(page.locator("figcaption .summary")).to_contain_text(
        re.compile(r"step 30m · 33[67] points" if BUCKETS else r"step 30m · 336 points")
    )
    expect(page.locator("figcaption .meaning")).to_have_text(
        "30-min mean over all captures, UTC" if BUCKETS else "15-min rolling average"
    )
    screenshot(page, "room-7d-fahrenheit")
    # A custom range from the form (local time; the browser context runs in UTC).
    start = live_server.t0 - timedelta(hours=3)
    page.get_by_label("From", exact=True).fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("To", exact=True).fill(live_server.t0.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Show range").click()
    expect(page.locator("figcaption .summary")).to_contain_text("step 1m · 180 points")
    assert f"from={_iso(start)}&to={_iso(live_server.t0)}" in page.url
    page.get_by_role("link", name="← All rooms").click()
    expect(page.locator("section.building")).to_have_count(2)
    assert page_problems.messages == []


def test_without_the_stream_the_page_polls_every_60_s(
    page: Page, live_server: LiveServer, page_problems: PageProblems
) -> None:
    """The fallback: when the live stream fails, every 60 s the page reloads its data (the
    page's clock is driven by the test)."""
    t0 = live_server.t0
    start, end = t0 - timedelta(hours=7), t0 - timedelta(hours=6)
    page.route("**/v1/**/live*", lambda route: route.abort())
    page.clock.install()
    page.goto(f"{live_server.url}/#/room/hq/3.14?from={_iso(start)}&to={_iso(end)}")
    expect(page.locator("body[data-state='ready'][data-view='room']")).to_be_attached()
    dots = page.locator("circle.capture")
    before = len([c for c in live_server.data if c.room == "3.14" and start < c.ts <= end])
    expect(dots).to_have_count(before)
    page.locator("details.data summary").click()
    # Off the seed's 5-minute grid, and outside every range the other tests count.
    extra = t0 - timedelta(hours=6, minutes=2)
    live_server.post("/v1/captures", seed.Capture("hq", "3.14", extra, 21.0).body())
    # Renders started so far; a refresh may finish before the test looks at the page.
    renders = "Number(document.body.dataset.renders)"
    first = page.evaluate(renders)
    page.clock.run_for(59_000)
    assert page.evaluate(renders) == first
    page.clock.run_for(2_000)
    assert page.evaluate(renders) == first + 1
    expect(dots).to_have_count(before + 1)
    # Checked only now: the page's clock runs on while the test waits (see the 59 s above).
    expect(page.locator("#live")).to_have_text("Polling every 60 s")
    expect(page.locator("details.data")).to_have_attribute("open", "")
    page.get_by_label("Auto-refresh").uncheck()
    live_server.post(
        "/v1/captures", seed.Capture("hq", "3.14", extra - timedelta(minutes=1), 21.0).body()
    )
    page.clock.run_for(61_000)
    assert page.evaluate(renders) == first + 1
    expect(dots).to_have_count(before + 1)


def test_phone_width_has_no_page_overflow(
    browser_page_phone: Page, live_server: LiveServer
) -> None:
    page = browser_page_phone
    for route, view in (("/", "overview"), ("/#/room/hq/3.14?range=6h", "room")):
        page.goto(live_server.url + route)
        expect(page.locator(f"body[data-state='ready'][data-view='{view}']")).to_be_attached()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
    screenshot(page, "room-phone")
    page.goto(live_server.url + "/")
    expect(page.locator("body[data-state='ready'][data-view='overview']")).to_be_attached()
    screenshot(page, "overview-phone")


@pytest.fixture
def browser_page_phone(page: Page) -> Page:
    page.set_viewport_size({"width": 390, "height": 844})
    return page


def test_invalid_token_shows_a_clear_message(page: Page, live_server: LiveServer) -> None:
    """The page sends the stored token as a bearer token and explains a 401 and a 403.

    Auth is not in the service on this branch, so a route in the browser plays the API's
    auth layer (same JSON envelope): requests pass through to the live service only with
    `Bearer good-token`. The same path against the service's own auth layer is
    test_invalid_token_against_the_live_auth_layer (pending until that layer is merged).
    """
    seen: list[str | None] = []

    def auth_layer(route: Route) -> None:
        header = route.request.headers.get("authorization")
        seen.append(header)
        if header == "Bearer good-token":
            route.continue_()
            return
        status, code = (403, "forbidden") if header == "Bearer read-none" else (401, "unauthorized")
        msg = "invalid API token" if header else "missing API token"
        body = {"error": {"code": code, "message": msg, "details": []}}
        route.fulfill(status=status, content_type="application/json", body=json.dumps(body))

    page.route("**/v1/**", auth_layer)
    page.goto(live_server.url + "/")
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(
        "This service needs an API token (401 unauthorized: missing API token). "
        "Enter it under “API token”."
    )
    expect(page.locator("#token-panel")).to_be_visible()
    page.get_by_role("textbox", name="Token").fill("wrong-token")
    page.get_by_role("button", name="Save").click()
    expect(alert).to_have_text(
        "The API token was refused (401 unauthorized: invalid API token). "
        "Enter a valid token under “API token”."
    )
    screenshot(page, "invalid-token")
    assert "Bearer wrong-token" in seen
    expect(page.locator("#token-panel")).to_be_visible()  # reopened by the refusal
    page.get_by_role("textbox", name="Token").fill("read-none")
    page.get_by_role("button", name="Save").click()
    expect(alert).to_contain_text("This API token may not read this data (403 forbidden")
    expect(page.locator("#token-panel")).to_be_visible()  # reopened by the refusal
    page.get_by_role("textbox", name="Token").fill("good-token")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("body[data-state='ready']")).to_be_attached()
    expect(alert).to_be_hidden()
    expect(page.locator("tr.room")).to_have_count(len(seed.RECENT) + 1)
    # Kept for the tab (sessionStorage), not across tabs or in localStorage.
    assert page.evaluate("sessionStorage.getItem('roomtemp.token')") == "good-token"
    assert page.evaluate("localStorage.getItem('roomtemp.token')") is None


def _create_token(database_url: str, key: str, scope: str) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "roomtemp",
            "token",
            "create",
            "--name",
            f"dash-{scope}",
            "--scope",
            scope,
        ],
        env={**os.environ, "DATABASE_URL": database_url, "TOKEN_HASH_KEY": key},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    match = re.search(r"^token:\s+(\S+)$", done.stdout, re.MULTILINE)
    assert match, done.stdout
    return match[1]


@pytest.mark.skipif(
    "auth_required" not in Settings.model_fields,
    reason="PENDING: the service has no API-token auth on this branch yet (ops branch); "
    "test_invalid_token_shows_a_clear_message covers the page's side meanwhile",
)
def test_invalid_token_against_the_live_auth_layer(
    page: Page, live_server: LiveServer, dashboard_database_url: str
) -> None:
    """With AUTH_REQUIRED=true: no token, a wrong one, one without the read scope, a good one."""
    key = secrets.token_urlsafe(48)
    read = _create_token(dashboard_database_url, key, "read")
    ingest_only = _create_token(dashboard_database_url, key, "ingest")
    proc, url = serve(
        dashboard_database_url, "server-auth.log", AUTH_REQUIRED="true", TOKEN_HASH_KEY=key
    )
    try:
        page.goto(url + "/")
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("This service needs an API token (401 unauthorized")
        for token, message in (
            ("not-a-token", "The API token was refused (401 unauthorized"),
            (ingest_only, "This API token may not read this data (403 forbidden"),
        ):
            expect(page.locator("#token-panel")).to_be_visible()
            page.get_by_role("textbox", name="Token").fill(token)
            page.get_by_role("button", name="Save").click()
            expect(alert).to_contain_text(message)
        screenshot(page, "invalid-token-live")
        page.get_by_role("textbox", name="Token").fill(read)
        page.get_by_role("button", name="Save").click()
        expect(page.locator("body[data-state='ready'][data-view='overview']")).to_be_attached()
        expect(page.locator("tr.room")).to_have_count(len(seed.RECENT) + 1)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_live_stream_shows_a_new_capture_without_reload(
    page: Page, live_server: LiveServer, page_problems: PageProblems
) -> None:
    """The room page follows its live stream: a capture posted elsewhere changes the numbers
    the reader sees within seconds, with no reload and no 60-second poll."""
    page.goto(f"{live_server.url}/#/room/hq/3.14?range=6h")
    expect(page.locator("body[data-state='ready'][data-view='room']")).to_be_attached()
    expect(page.locator("#live")).to_have_text("● Live")
    section = page.locator("section.type[data-type='temperature']")
    mean, count = section.locator("dd.mean"), section.locator("dd.count")
    before = int(count.inner_text())
    page.evaluate("window.__sameDocument = true")
    ts = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    result = live_server.post("/v1/captures", seed.Capture("hq", "3.14", ts, 30.0).body())
    assert result["inserted"] == 1
    expect(count).to_have_text(str(before + 1), timeout=5_000)
    latest = _get_json(f"{live_server.url}/v1/buildings/hq/rooms/3.14/average?unit=celsius")
    assert latest["count"] == before + 1
    expect(mean).to_have_text(f"{latest['mean']:.1f} °C")
    assert page.evaluate("window.__sameDocument") is True  # not reloaded
    assert page_problems.messages == []
