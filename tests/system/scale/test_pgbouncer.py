"""Through a real PgBouncer in transaction mode: what breaks with the defaults, and that
DB_PGBOUNCER=true works.

PgBouncer runs with ONE server connection (default_pool_size = 1), so every client shares it:
exactly the situation where session state leaks between clients.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from sqlalchemy.engine import make_url

from roomtemp.clock import system_clock
from roomtemp.embedded._system import pid_alive, run, server_account
from roomtemp.importer import service as importer
from roomtemp.importer.source import open_source
from roomtemp.lifecycle.cli import engine_for
from tests.conftest import NOW, ClientFactory, make_settings
from tests.factories import capture
from tests.tools import executable


def _pgbouncer() -> str:
    return executable(
        "pgbouncer", "`make tools` (apt, as root) installs it", also=("/usr/sbin/pgbouncer",)
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def bouncer_url(database_url: str) -> Iterator[str]:
    """SQLAlchemy URL of the test database through PgBouncer (transaction pooling)."""
    binary = _pgbouncer()
    target = make_url(database_url)
    port = _free_port()
    base = Path(tempfile.mkdtemp(prefix="roomtemp-pgbouncer-"))
    base.chmod(0o711)  # as root, PgBouncer runs as the embedded server's user
    account = server_account()
    files = {
        "userlist.txt": f'"{target.username}" "{target.password}"\n',
        "pgbouncer.ini": f"""[databases]
{target.database} = host={target.host} port={target.port} dbname={target.database}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {base / "userlist.txt"}
pool_mode = transaction
default_pool_size = 1
max_client_conn = 50
logfile = {base / "pgbouncer.log"}
pidfile = {base / "pgbouncer.pid"}
""",
    }
    for name, text in files.items():
        path = base / name
        path.write_text(text)
        path.chmod(0o600)
        if account is not None:
            os.chown(path, account.uid, account.gid)
    if account is not None:
        os.chown(base, account.uid, account.gid)
    run([binary, "-d", str(base / "pgbouncer.ini")], account)
    pid = 0
    try:
        for _ in range(200):
            if (base / "pgbouncer.pid").exists():
                pid = int((base / "pgbouncer.pid").read_text().strip() or 0)
                if pid:
                    break
            time.sleep(0.01)
        assert pid, (base / "pgbouncer.log").read_text()
        yield target.set(port=port).render_as_string(hide_password=False)
    finally:
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            for _ in range(200):
                if not pid_alive(pid):
                    break
                time.sleep(0.01)
        shutil.rmtree(base, ignore_errors=True)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_psycopg_prepared_statements_collide_behind_transaction_pooling(bouncer_url: str) -> None:
    query = "SELECT count(*) FROM sensor_type WHERE key = %s"
    # prepare_threshold=0 prepares at once (the default, 5, after five runs: same outcome).
    with (
        psycopg.connect(_libpq(bouncer_url), autocommit=True, prepare_threshold=0) as a,
        psycopg.connect(_libpq(bouncer_url), autocommit=True, prepare_threshold=0) as b,
    ):
        a.execute(query, ("temperature",))
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
            b.execute(query, ("temperature",))
    with (
        psycopg.connect(_libpq(bouncer_url), autocommit=True, prepare_threshold=None) as a,
        psycopg.connect(_libpq(bouncer_url), autocommit=True, prepare_threshold=None) as b,
    ):
        for _ in range(10):
            assert a.execute(query, ("temperature",)).fetchone() == (1,)
            assert b.execute(query, ("temperature",)).fetchone() == (1,)


def test_default_settings_are_refused_by_pgbouncer(
    bouncer_url: str, client_factory: ClientFactory
) -> None:
    # The `options=-c statement_timeout=...` startup parameter: PgBouncer closes the connection.
    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter"):
        psycopg.connect(_libpq(bouncer_url), options="-c statement_timeout=5000").close()
    client = client_factory(database_url=bouncer_url, db_connect_timeout_seconds=2)
    assert client.get("/readyz").status_code == 503


def test_api_works_through_pgbouncer_with_db_pgbouncer(
    bouncer_url: str, client_factory: ClientFactory, db: psycopg.Connection[Any]
) -> None:
    one = client_factory(database_url=bouncer_url, db_pgbouncer=True)
    two = client_factory(database_url=bouncer_url, db_pgbouncer=True)
    assert one.get("/readyz").status_code == 200
    for minute in range(46, 60):
        item = capture(20.0 + minute / 10, building="pooled", room="r1")
        item["ts"] = f"2026-11-22T11:{minute:02d}:00Z"
        assert one.post("/v1/captures", json=item).status_code == 201
    # Many identical queries from two apps sharing one server connection: past any threshold.
    for _ in range(8):
        for client in (one, two):
            r = client.get("/v1/buildings/pooled/rooms/r1/average")
            assert r.status_code == 200, r.text
            assert r.json()["count"] == 14
            assert client.get("/v1/buildings/pooled").status_code == 200


def test_imports_stage_their_chunks_through_pgbouncer(
    bouncer_url: str, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    """The importer's staging table lives only inside each chunk's transaction: two imports at
    once through PgBouncer's one shared server connection neither collide nor mix rows."""
    settings = make_settings(database_url=bouncer_url, db_pgbouncer=True)
    paths = []
    for building in ("east", "west"):
        path = tmp_path / f"{building}.ndjson"
        path.write_bytes(
            b"\n".join(
                orjson.dumps(
                    capture(
                        20 + n % 7,
                        building=building,
                        room=f"r{n % 5}",
                        ts=NOW - timedelta(days=1) + timedelta(minutes=n),
                    )
                )
                for n in range(600)
            )
        )
        paths.append(path)

    async def one(path: Path) -> importer.ImportTotals:
        engine = engine_for(settings)
        try:
            with open_source(str(path)) as source:
                return await importer.import_records(
                    engine,
                    source.records,
                    policy=importer.policy_for(settings, 100),
                    clock=system_clock,
                    chunk_size=100,
                )
        finally:
            await engine.dispose()

    async def both() -> list[importer.ImportTotals]:
        return list(await asyncio.gather(*(one(p) for p in paths)))

    for totals in asyncio.run(both()):
        assert (totals.rows, totals.inserted, totals.rejected, totals.chunks) == (600, 600, 0, 6)
    counts = db.execute(
        "SELECT b.key, count(*) FROM capture c JOIN room r ON r.id = c.room_id "
        "JOIN building b ON b.id = r.building_id GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert counts == [("east", 600), ("west", 600)]
