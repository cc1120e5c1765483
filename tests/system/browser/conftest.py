"""Fixtures of the browser tests: a live `roomtemp serve` on its own seeded database, Chromium.

Chromium is Debian's /usr/bin/chromium driven by Playwright (no browser download). Without it the
browser tests skip with the reason, unless ROOMTEMP_STRICT_TOOLS=1 (CI), where they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from sqlalchemy.engine import make_url

import roomtemp
from roomtemp.db import migrate
from tests.system.browser import seed
from tests.tools import missing_tool

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(
    os.environ.get("DASHBOARD_ARTIFACTS", ROOT / ".cache" / "test-artifacts" / "dashboard")
)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
DATABASE = "roomtemp_dashboard"


def chromium_path() -> str | None:
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = chromium_path()
    if path is None:
        missing_tool(
            "Chromium is not installed (`make tools` as root installs Debian's, or set "
            "CHROMIUM_PATH); the dashboard browser tests need it"
        )
    return path


@dataclass(frozen=True)
class LiveServer:
    url: str
    t0: datetime
    data: list[seed.Capture]

    def post(self, path: str, body: object) -> Any:
        return _post(self.url + path, body)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _post(url: str, body: object) -> Any:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"roomtemp serve exited with {proc.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"roomtemp serve not ready after 60 s: {log.read_text()}")


@pytest.fixture(scope="session")
def dashboard_database_url(database_url: str, conninfo: str) -> Iterator[str]:
    """A database of its own on the test server, so other tests' clean-ups never touch it."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    url = make_url(database_url).set(database=DATABASE).render_as_string(hide_password=False)
    migrate.upgrade(url)
    yield url
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def serve(database_url: str, log_name: str, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start `roomtemp serve` (the real CLI) on a free port; returns the process and base URL."""
    port = _free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / log_name
    environ = {
        **os.environ,
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "warning",
        # The API-token layer (when present) is off here; the auth test turns it on.
        "AUTH_REQUIRED": "false",
        # cwd is not the work tree: make roomtemp importable however it is installed (editable
        # .venv, or a Pants sandbox whose source roots are relative to its own cwd).
        "PYTHONPATH": str(Path(roomtemp.__file__).resolve().parents[1]),
        **env,
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "roomtemp", "serve"],
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ARTIFACTS,  # no stray .env from the work tree
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
    except Exception:
        proc.kill()
        proc.wait()
        raise
    return proc, url


@pytest.fixture(scope="session")
def live_server(chromium_executable: str, dashboard_database_url: str) -> Iterator[LiveServer]:
    """`roomtemp serve` as a subprocess with the seed data posted through /v1/captures."""
    proc, url = serve(dashboard_database_url, "server.log")
    try:
        t0 = seed.t0_now()
        data = seed.captures(t0)
        result = _post(url + "/v1/captures", [c.body() for c in data])
        assert result["inserted"] == len(data)
        req = urllib.request.Request(
            url + "/v1/buildings/hq",
            json.dumps({"name": "Headquarters"}).encode(),
            {"content-type": "application/json"},
            method="PUT",
        )
        urllib.request.urlopen(req, timeout=10).close()
        yield LiveServer(url, t0, data)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# Package scope: sync_playwright keeps an asyncio loop running in the main thread while it is
# open, which would break asyncio.run() in every test collected after this package.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright, chromium_executable: str) -> Iterator[Browser]:
    # launch() gives every run a fresh temporary --user-data-dir of its own.
    browser = playwright.chromium.launch(
        executable_path=chromium_executable, headless=True, args=CHROMIUM_FLAGS
    )
    yield browser
    browser.close()


@dataclass
class PageProblems:
    """Console errors, uncaught exceptions and CSP violations seen on a page."""

    messages: list[str]


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems([])


@pytest.fixture
def page(browser: Browser, page_problems: PageProblems) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1200, "height": 900}, locale="en-GB", timezone_id="UTC"
    )
    page = context.new_page()
    page.on(
        "console",
        lambda m: page_problems.messages.append(m.text) if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: page_problems.messages.append(str(e)))
    yield page
    context.close()


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG of the page (or of the first screen) as a test artifact (and into
    DASHBOARD_DOCS_IMG when set)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    docs = os.environ.get("DASHBOARD_DOCS_IMG")
    if docs:
        Path(docs).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(docs) / f"{name}.png")
    return path
