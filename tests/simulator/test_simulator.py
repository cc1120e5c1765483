"""`roomtemp simulate` against a live `roomtemp serve` (a subprocess on the test database)."""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from roomtemp.__main__ import main
from roomtemp.simulator.model import Simulation


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def _serving(database_url: str, argv: list[str], **env_overrides: str) -> Iterator[str]:
    """A real server process on the test database; yields its base URL once it is ready."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PORT": str(port), "LOG_LEVEL": "warning"}
    env["AUTH_REQUIRED"] = "false"  # API tokens (when present) are not what these tests are about
    env.update(env_overrides)
    proc = subprocess.Popen([sys.executable, "-m", *argv, "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def server(database_url: str, db: psycopg.Connection[Any]) -> Iterator[str]:
    with _serving(database_url, ["roomtemp", "serve"]) as url:
        yield url


# uvicorn closes a kept-alive connection idle for this long; the simulator posts less often.
_SHORT_KEEPALIVE = ["uvicorn", "roomtemp.app:app_from_environment", "--factory",
                    "--timeout-keep-alive", "1"]  # fmt: skip


def _summary(out: str) -> str:
    [line] = [line for line in out.splitlines() if line.startswith("sent ")]
    return line


def test_simulate_against_live_server(
    server: str, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["simulate", "--url", server, "--buildings", "2", "--rooms", "3", "--interval", "5s"]
    # --batch 500 (the default): the backfill's posts gather ~80 ticks each. With 50 (8 ticks)
    # a Citus cluster on this shared machine took ~0.35 s per post and stored ~400 in 3 s.
    args += ["--backfill", "1h", "--duration", "3s", "--batch", "500", "--token", "t0ken"]
    started = time.monotonic()
    assert main(args) == 0
    elapsed = time.monotonic() - started
    out = capsys.readouterr()
    assert 2.5 < elapsed < 15
    # 1 h of history at 5 s for 6 rooms (720 ticks) plus live ticks, minus dropouts.
    [summary] = [line for line in out.out.splitlines() if line.startswith("sent ")]
    assert "0 failed posts" in summary
    assert "simulate: " in out.err  # status line
    rows = db.execute(
        "SELECT b.key, r.key, count(*), min(c.value) - 273.15, max(c.value) - 273.15 "
        "FROM capture c JOIN room r ON r.id = c.room_id JOIN building b ON b.id = r.building_id "
        "GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    assert [(b, r) for b, r, *_ in rows] == [
        (f"b{b}", f"r{r:02d}") for b in (1, 2) for r in (1, 2, 3)
    ]
    total = sum(n for _, _, n, _, _ in rows)
    assert 600 < total <= 6 * 760
    assert all(10 < lo <= hi < 30 for *_, lo, hi in rows)
    inserted = int(summary.split(": ")[1].split(" inserted")[0])
    assert inserted == total
    duplicates = int(summary.split(", ")[1].split(" duplicates")[0])
    assert duplicates > 0  # re-sends were sent and recognised


def test_model_faults_and_schedule() -> None:
    sim = Simulation(buildings=1, rooms=10, seed=3)
    start = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # a Monday
    sent: list[tuple[str, datetime]] = []
    temps: dict[int, list[float]] = {}
    for step in range(24 * 60):
        ts = start + timedelta(minutes=step)
        for reading in sim.tick(ts):
            sent.append((reading.room, reading.ts))
            temps.setdefault(ts.hour, []).append(reading.celsius)
    keys = set(sent)
    assert len(sent) > len(keys)  # duplicates
    assert len(keys) < 10 * 24 * 60  # dropouts and late readings not yet due
    late = sum(1 for a, b in itertools.pairwise(sent) if b[1] < a[1])
    assert late > 0
    night = sum(temps[3]) / len(temps[3])
    afternoon = sum(temps[15]) / len(temps[15])
    assert night < 18.5 < 20.5 < afternoon  # heated during the working day


def test_live_posts_survive_connections_the_server_closed(
    database_url: str, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Live mode, a tick every 2 s: each post after the first finds its connection closed by the
    # server (keep-alive 1 s). They must be resent on a new connection and none lost.
    with _serving(database_url, _SHORT_KEEPALIVE) as url:
        args = ["simulate", "--url", url, "--buildings", "1", "--rooms", "4", "--interval", "2s"]
        assert main([*args, "--duration", "7s", "--seed", "5"]) == 0
    summary = _summary(capsys.readouterr().out)
    assert " 0 failed posts" in summary
    sent = int(summary.split()[1])
    inserted = int(summary.split(": ")[1].split(" inserted")[0])
    duplicates = int(summary.split(", ")[1].split(" duplicates")[0])
    assert sent >= 12  # 4 ticks of 4 rooms, less dropouts and late ones
    assert inserted + duplicates == sent
    [(stored,)] = db.execute("SELECT count(*) FROM capture").fetchall()
    assert stored == inserted


def test_refused_posts_stop_the_simulator_with_an_error(
    database_url: str, db: psycopg.Connection[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    key = "k" * 40
    with _serving(
        database_url, ["roomtemp", "serve"], AUTH_REQUIRED="true", TOKEN_HASH_KEY=key
    ) as url:
        args = ["simulate", "--url", url, "--buildings", "1", "--rooms", "2", "--interval", "2s"]
        started = time.monotonic()
        assert main([*args, "--duration", "20s", "--token", "not-a-token"]) == 1
        elapsed = time.monotonic() - started
    out = capsys.readouterr()
    assert elapsed < 5  # stopped at the first refusal, not after --duration
    assert "1 failed posts" in _summary(out.out)
    assert "HTTP 401" in out.err
    [(stored,)] = db.execute("SELECT count(*) FROM capture").fetchall()
    assert stored == 0
