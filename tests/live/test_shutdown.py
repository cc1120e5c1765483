"""`roomtemp serve` (the real CLI) ends its live streams on SIGTERM instead of waiting for them:
the stream gets a `shutdown` event at once and the process exits well within
GRACEFUL_SHUTDOWN_SECONDS."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import psycopg

from tests.conftest import NOW
from tests.factories import capture
from tests.system.ops.server import live_server


def test_sigterm_ends_open_streams_promptly(
    database_url: str, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    body = capture(20.0, room="r1", ts=NOW - timedelta(minutes=5))
    with live_server(
        database_url,
        tmp_path,
        AUTH_REQUIRED="false",
        GRACEFUL_SHUTDOWN_SECONDS="30",
    ) as server:
        assert httpx.post(server.url + "/v1/captures", json=body).status_code == 201
        with (
            httpx.Client(timeout=10) as client,
            client.stream("GET", server.url + "/v1/buildings/hq/live") as response,
        ):
            assert response.status_code == 200
            lines = response.iter_lines()
            assert next(line for line in lines if line.startswith("event:")) == "event: reset"
            started = time.monotonic()
            server.terminate()
            rest = list(lines)  # to the end of the stream
            ended = time.monotonic() - started
        assert "event: shutdown" in rest
        assert ended < 5, ended  # the linger (0.5 s) and the close, not GRACEFUL_SHUTDOWN_SECONDS
        server.proc.wait(timeout=10)
        assert time.monotonic() - started < 10
        assert server.proc.returncode in (0, -15, 143)
