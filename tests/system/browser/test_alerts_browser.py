"""Room alerts in the dashboard, in real Chromium, after a rule really fires: `roomtemp serve`
and `roomtemp alerts` (the real processes) on a database of their own, a rule put with the CLI,
captures posted through the API. The overview shows the banner, the building's count and the
room's badge; the room page lists the alert with severity, since, value and its ack/silence; the
link of the webhook the process sent (ALERT_EXTERNAL_URL) opens that room page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import make_url

import roomtemp
from roomtemp.alerts import payloads
from roomtemp.db import migrate
from tests.alerts.receiver import Receiver
from tests.system.browser.conftest import ARTIFACTS, PageProblems, _free_port, screenshot, serve

DATABASE = "roomtemp_dashboard_alerts"
RULE = {"building": "hq", "kind": "above", "threshold": 25, "unit": "celsius",
        "severity": "critical", "receivers": ["hook"]}  # fmt: skip
SECRET = "browser-test-secret-0"


def _request(url: str, method: str = "GET", body: object = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data, {"content-type": "application/json"}, method=method)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def alerts_database_url(database_url: str, conninfo: str) -> Iterator[str]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    url = make_url(database_url).set(database=DATABASE).render_as_string(hide_password=False)
    migrate.upgrade(url)
    yield url
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def _env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "warning",
        "PYTHONPATH": str(Path(roomtemp.__file__).resolve().parents[1]),
        **extra,
    }


def _cli(database_url: str, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "roomtemp", "alerts", *args],
        env=_env(database_url), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver(SECRET) as rx:
        yield rx


@pytest.fixture(scope="module")
def fired(
    chromium_executable: str, alerts_database_url: str, receiver: Receiver
) -> Iterator[tuple[str, dict[str, Any]]]:
    """A server whose hq/server room is at 26 °C under a rule above 25 °C: firing, its webhook
    delivered, then acknowledged and silenced for 2 h through the API."""
    proc, url = serve(alerts_database_url, "server-alerts.log")
    worker: subprocess.Popen[bytes] | None = None
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        ts = (now - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
        _request(url + "/v1/captures", "POST", [
            {"building": "hq", "room": "server", "value": 26.0, "unit": "celsius", "ts": ts},
            {"building": "hq", "room": "lobby", "value": 21.0, "unit": "celsius", "ts": ts},
            {"building": "annex", "room": "a1", "value": 22.0, "unit": "celsius", "ts": ts},
            # A key the dashboard's links escape (`:`).
            {"building": "annex", "room": "lab:3.14", "value": 22.0, "unit": "celsius", "ts": ts},
        ])  # fmt: skip
        hook = {"url": receiver.url, "secret": SECRET}
        _cli(alerts_database_url, "receivers", "put", "hook", json.dumps(hook))
        _cli(alerts_database_url, "rules", "put", "server-hot", json.dumps(RULE))
        with (ARTIFACTS / "alerts-worker.log").open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "roomtemp", "alerts"],
                env=_env(alerts_database_url, ALERT_EVAL_SECONDS="1",
                         ALERTS_PORT=str(_free_port()), ALERT_EXTERNAL_URL=url),
                stdout=log, stderr=subprocess.STDOUT, cwd=ARTIFACTS,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        items: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not items:
            items = _request(url + "/v1/alerts?state=firing")["items"]
            time.sleep(0.3)
        assert len(items) == 1, "the rule did not fire"
        alert = items[0]
        # Its webhook goes out before the silence below would hold it.
        while time.monotonic() < deadline and not receiver.received:
            time.sleep(0.1)
        assert receiver.received, "the firing was not delivered"
        _request(f"{url}/v1/alerts/{alert['id']}/ack", "POST")
        silenced = _request(f"{url}/v1/alerts/{alert['id']}/silence", "POST", {"for": "2h"})
        yield url, silenced
    finally:
        for p in (worker, proc):
            if p is not None:
                p.terminate()
                p.wait(20)


def test_overview_shows_firing_alerts(
    page: Page, fired: tuple[str, dict[str, Any]], page_problems: PageProblems
) -> None:
    url, _ = fired
    page.goto(url + "/")
    expect(page.locator("body[data-state='ready']")).to_be_attached()
    banner = page.locator(".alerts-banner")
    expect(banner).to_have_text("1 firing alert: hq (1)")
    expect(banner.locator("a[data-building='hq']")).to_have_attribute("href", "#/building/hq")
    expect(page.locator("section[data-building='hq'] h3 .badge.alert")).to_have_text(
        "1 firing alert"
    )
    expect(page.locator("section[data-building='annex'] h3 .badge.alert")).to_have_count(0)
    server = page.locator("section[data-building='hq'] tr[data-room='server']")
    badge = server.locator(".badge.alert.critical")
    expect(badge).to_have_text("alert")
    expect(badge).to_have_attribute("title", "Firing: server-hot (critical)")
    expect(page.locator("tr[data-room='lobby'] .badge.alert")).to_have_count(0)
    # The alerting room comes first: it needs attention.
    expect(page.locator("section[data-building='hq'] tbody tr").first).to_have_attribute(
        "data-room", "server"
    )
    screenshot(page, "alerts-overview")
    assert page_problems.messages == []


def test_room_page_lists_the_alert(
    page: Page, fired: tuple[str, dict[str, Any]], page_problems: PageProblems
) -> None:
    url, alert = fired
    page.goto(url + "/#/room/hq/server")
    expect(page.locator("body[data-state='ready']")).to_be_attached()
    section = page.locator("section.room-alerts")
    expect(section.locator("h3")).to_have_text("Alerts")
    row = section.locator(f"tr[data-alert='{alert['id']}']")
    expect(row.locator("th")).to_have_text("server-hot")
    expect(row.locator(".badge.alert")).to_have_text("critical")
    expect(row.locator("td.state")).to_have_text("firing")
    expect(row.locator("td.since")).to_have_attribute("title", alert["fired_at"])
    expect(row.locator("td.value")).to_have_text("26.0 °C (above 25.0)")
    ack = row.locator("td.ack")
    expect(ack).to_contain_text("acknowledged by anonymous at ")
    expect(ack).to_contain_text("silenced until ")
    screenshot(page, "alerts-room")
    # A room without alerts says so.
    page.goto(url + "/#/room/hq/lobby")
    expect(page.locator("section.room-alerts p.none")).to_have_text("No alert for this room.")
    assert page_problems.messages == []


def test_the_webhook_links_the_room_page(
    page: Page,
    fired: tuple[str, dict[str, Any]],
    receiver: Receiver,
    page_problems: PageProblems,
) -> None:
    url, alert = fired
    (note,) = (r.json for r in receiver.received)
    assert receiver.received[0].signed
    assert note["externalURL"] == url
    link = note["alerts"][0]["generatorURL"]
    assert link == url + "/#/room/hq/server"
    page.goto(link)
    expect(page.locator("body[data-view='room'][data-state='ready']")).to_be_attached()
    expect(page.locator(".room-view h2")).to_have_text("hq / server")
    expect(page.locator(f"section.room-alerts tr[data-alert='{alert['id']}']")).to_be_visible()
    # A key the links escape (`lab%3A3.14`) reaches the dashboard's router as the key.
    page.goto(payloads.room_page(url, "annex", "lab:3.14"))
    expect(page.locator(".room-view h2")).to_have_text("annex / lab:3.14")
    expect(page.locator(".room-view")).to_have_attribute("data-room", "lab:3.14")
    assert page_problems.messages == []
