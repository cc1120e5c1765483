"""Fixtures for the operations/security proofs: a live server, tokens, and the reported counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.system.ops.counts import COUNTS, MEASURED, NAMES
from tests.system.ops.server import LiveServer, create_token, live_server


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if COUNTS:
        terminalreporter.write_sep("-", "operations proof counts")
        for name in NAMES:
            terminalreporter.write_line(f"{name}: {COUNTS[name]}")
    if MEASURED:
        terminalreporter.write_sep("-", "operations proof measurements")
        for name, value in MEASURED.items():
            terminalreporter.write_line(f"{name}: {value:.3f}")


@pytest.fixture
def server(database_url: str, db: psycopg.Connection[Any], tmp_path: Path) -> Iterator[LiveServer]:
    """`roomtemp serve` on the test database (emptied first), auth on."""
    with live_server(database_url, tmp_path) as srv:
        yield srv


@pytest.fixture
def admin_token(database_url: str, db: psycopg.Connection[Any]) -> str:
    return create_token(database_url, "ops-admin", "ingest", "read", "admin")
