"""A real `roomtemp serve` process for the proof tests, plus small HTTP helpers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx

TOKEN_HASH_KEY = "ops-tests-token-hash-key-0123456789abcdef"
_TOKEN_LINE = re.compile(r"^token:\s+(\S+)$", re.M)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(database_url: str, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "PROMETHEUS_"))}
    env.update(
        DATABASE_URL=database_url,
        HOST="127.0.0.1",
        AUTH_REQUIRED="true",
        TOKEN_HASH_KEY=TOKEN_HASH_KEY,
        LOG_FORMAT="json",
        LOG_LEVEL="info",
        DB_CONNECT_TIMEOUT_SECONDS="2",
        DB_POOL_TIMEOUT_SECONDS="2",
        RATE_LIMIT_PER_SECOND="0",
    )
    env.update(overrides)
    return env


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roomtemp", *args],
        env=server_env(database_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def issue_token(
    database_url: str, name: str, *scopes: str, buildings: list[str] | None = None
) -> str:
    """A token stored through the token service (in process: faster than the CLI);
    `buildings`: limited to these building keys."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from roomtemp.auth import service

    async def go() -> str:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as conn:
                _, token = await service.create_token(
                    conn, TOKEN_HASH_KEY.encode(), name, scopes=list(scopes), buildings=buildings
                )
                return token
        finally:
            await engine.dispose()

    # In a thread of its own: another plugin (playwright's sync API) may run an event loop here.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(go())).result()


def create_token(database_url: str, name: str, *scopes: str) -> str:
    """A token made by `roomtemp token create` (the CLI, in a subprocess)."""
    args = ["token", "create", "--name", name]
    for s in scopes:
        args += ["--scope", s]
    done = cli(database_url, *args)
    assert done.returncode == 0, done.stderr
    match = _TOKEN_LINE.search(done.stdout)
    assert match, done.stdout
    return match.group(1)


@dataclass
class LiveServer:
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)


def wait_ready(url: str, proc: subprocess.Popen[bytes], log_path: Path, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready in {limit}s:\n{log_path.read_text()[-3000:]}")


@contextmanager
def live_server(
    database_url: str, log_dir: Path, unset: tuple[str, ...] = (), **overrides: str
) -> Iterator[LiveServer]:
    """A `roomtemp serve` subprocess; `unset` names variables to leave out of its environment."""
    port = free_port()
    env = server_env(database_url, PORT=str(port), **overrides)
    for name in unset:
        env.pop(name, None)
    log_path = log_dir / f"server-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "roomtemp", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", proc, log_path, env)
    try:
        wait_ready(server.url, proc, log_path)
        yield server
    finally:
        server.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
