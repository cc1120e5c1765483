"""The embedded PostgreSQL server: real start/stop/restart, leftovers of crashed runs."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

import roomtemp
from roomtemp.embedded import EmbeddedPostgres, EmbeddedPostgresError, is_available
from roomtemp.embedded._system import pid_alive

Factory = Callable[..., EmbeddedPostgres]


def _connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True
    )


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])


def _postmaster_pid_or_none(data_dir: Path) -> int | None:
    return _postmaster_pid(data_dir) if (data_dir / "postmaster.pid").exists() else None


@pytest.fixture
def root_dir() -> Iterator[Path]:
    # Not tmp_path: pytest makes /tmp/pytest-of-root 0700, and as root the server runs as
    # another user who must be able to traverse to its data directory.
    base = Path(tempfile.mkdtemp(prefix="roomtemp-embedded-test-"))
    base.chmod(0o711)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def make_server(root_dir: Path) -> Iterator[Factory]:
    """Build servers under root_dir; every one is stopped at the end, even if a test fails."""
    servers: list[EmbeddedPostgres] = []

    def make(name: str = "pg", *, database: str = "roomtemp") -> EmbeddedPostgres:
        # fsync off: these directories are thrown away; it makes start/stop faster.
        server = EmbeddedPostgres(
            root_dir / name, database=database, server_settings={"fsync": "off"}
        )
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def test_the_embedded_extra_is_installed() -> None:
    # The test session depends on it when there is neither Docker nor TEST_DATABASE_URL.
    assert is_available()


def test_fresh_directory_starts_creates_the_database_and_stops(make_server: Factory) -> None:
    server = make_server(database="fresh_db")

    url = server.start()

    assert url.startswith("postgresql+psycopg://postgres:")
    assert "@127.0.0.1:" in url
    assert url.endswith("/fresh_db")
    assert server.start() == url  # already running: same server
    with _connect(url) as conn:
        assert conn.execute("SELECT current_database(), current_user").fetchone() == (
            "fresh_db",
            "postgres",
        )
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
    without_password = url.replace(url.split("@", 1)[0], "postgresql://postgres")
    with pytest.raises(psycopg.OperationalError, match="password"):
        _connect(without_password).close()
    pid = _postmaster_pid(server.data_dir)

    server.stop()
    server.stop()  # idempotent

    assert not pid_alive(pid)
    assert not (server.data_dir / "postmaster.pid").exists()
    assert server.url is None
    with pytest.raises(psycopg.OperationalError):
        _connect(url).close()


def test_restart_on_an_existing_directory_keeps_the_data(make_server: Factory) -> None:
    with make_server() as url, _connect(url) as conn:
        conn.execute("CREATE TABLE kept (v int)")
        conn.execute("INSERT INTO kept VALUES (42)")

    with make_server() as url, _connect(url) as conn:
        assert conn.execute("SELECT v FROM kept").fetchall() == [(42,)]

    # Another database name on the same directory: created, the first one kept.
    with make_server(database="second") as url, _connect(url) as conn:
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}
    assert {"roomtemp", "second"} <= names


def test_stale_pids_are_pruned_before_start(make_server: Factory) -> None:
    server = make_server()
    server.start()
    server.stop()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (server.data_dir / ".handle_pids.json").write_text(json.dumps([dead.pid]))

    server.start()

    pids = json.loads((server.data_dir / ".handle_pids.json").read_text())
    assert pids == [os.getpid()]
    server.stop()
    assert json.loads((server.data_dir / ".handle_pids.json").read_text()) == []


def test_a_directory_held_by_a_live_process_is_refused(make_server: Factory) -> None:
    server = make_server()
    server.start()
    server.stop()
    holder = os.getppid()  # alive, and not us
    (server.data_dir / ".handle_pids.json").write_text(json.dumps([holder]))

    with pytest.raises(EmbeddedPostgresError, match=f"in use by process.*{holder}"):
        server.start()
    assert server.url is None
    assert _postmaster_pid_or_none(server.data_dir) is None


_OWNER_SCRIPT = """
import sys, time
from pathlib import Path
from roomtemp.embedded import EmbeddedPostgres
print(EmbeddedPostgres(Path(sys.argv[1])).start(), flush=True)
time.sleep(120)
"""


def test_server_orphaned_by_a_killed_owner_is_taken_over(
    root_dir: Path, make_server: Factory
) -> None:
    data_dir = root_dir / "pg"
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER_SCRIPT, str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        old_url = owner.stdout.readline().strip()
        assert old_url, owner.communicate(timeout=10)[1]
        with _connect(old_url) as conn:
            conn.execute("CREATE TABLE survived (v int)")
            conn.execute("INSERT INTO survived VALUES (7)")
        orphan = _postmaster_pid(data_dir)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.communicate(timeout=10)
    assert pid_alive(orphan)  # the owner died, its server did not
    assert json.loads((data_dir / ".handle_pids.json").read_text()) == [owner.pid]

    server = make_server()
    with server as url, _connect(url) as conn:
        assert conn.execute("SELECT v FROM survived").fetchall() == [(7,)]
        assert _postmaster_pid(data_dir) != orphan
    assert not pid_alive(orphan)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_as_root_an_untraversable_parent_is_a_clear_error(
    root_dir: Path, make_server: Factory
) -> None:
    private = root_dir / "private"
    private.mkdir(mode=0o700)
    server = make_server("private/pg")

    with pytest.raises(EmbeddedPostgresError, match=r"cannot enter .*private.*not under /root"):
        server.start()
    assert private.stat().st_mode & 0o777 == 0o700  # never opened up for the server's user


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_cli_in_a_second_terminal_uses_the_embedded_server_of_serve(root_dir: Path) -> None:
    """`make run` in one terminal, `roomtemp import`/`export` in another, no variables set."""
    project = root_dir / "project"
    project.mkdir(mode=0o755)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "DB_HOST", "EMBEDDED_DATA_DIR") and not k.startswith("PG")
    }
    env["PYTHONPATH"] = str(Path(roomtemp.__file__).resolve().parents[1])

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "roomtemp", *args],
            env=env, cwd=project, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    (project / "in.csv").write_text(
        "ts,building,room,value,unit\n"
        "2026-10-01T00:00:00Z,hq,r1,21.5,celsius\n"
        "2026-10-01T00:01:00Z,hq,r1,21.7,celsius\n"
    )
    # Nothing running yet: the CLI says what to do.
    refused = cli("import", "in.csv")
    assert refused.returncode == 2
    assert "make run" in refused.stderr

    port = _free_port()
    serve_env = {**env, "PORT": str(port), "AUTH_REQUIRED": "false", "LOG_LEVEL": "warning"}
    server = subprocess.Popen(
        [sys.executable, "-m", "roomtemp", "serve"], env=serve_env, cwd=project
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.3)

        imported = cli("import", "in.csv")
        assert imported.returncode == 0, imported.stderr
        exported = cli(
            "export", "--building", "hq", "--from", "2026-09-30T00:00:00Z", "--unit", "celsius"
        )
        assert exported.returncode == 0, exported.stderr
        rows = list(csv.DictReader(io.StringIO(exported.stdout)))
        assert [(r["room"], round(float(r["value"]), 2)) for r in rows] == [
            ("r1", 21.5),
            ("r1", 21.7),
        ]
        # The same rows through the HTTP API of the server: one database.
        url = f"http://127.0.0.1:{port}/v1/buildings/hq/rooms"
        with urllib.request.urlopen(url, timeout=5) as r:
            assert b'"r1"' in r.read()
    finally:
        server.terminate()
        server.wait(timeout=60)
    # SIGTERM (`kill`, a process manager) stops the embedded PostgreSQL with the API: no
    # orphaned server keeps the data directory.
    assert not (project / ".data" / "postgres" / "postmaster.pid").exists()
