"""Test fixtures: one real, migrated PostgreSQL per session; a clean database per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from roomtemp.app import create_app
from roomtemp.clock import fixed_clock
from roomtemp.db import migrate
from roomtemp.settings import Settings
from tests.postgres_provider import (
    citus_bindir,
    libpq_conninfo,
    provide_database_url,
    sqlalchemy_url,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On Citus (TEST_CITUS_BINDIR), skip the tests marked single_node, saying why."""
    on_citus = citus_bindir() is not None
    for item in items:
        marker = item.get_closest_marker("single_node")
        if marker is None:
            continue
        if not marker.args or not str(marker.args[0]).strip():
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.single_node needs a reason")
        if on_citus:
            item.add_marker(pytest.mark.skip(reason=f"single node only: {marker.args[0]}"))


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """SQLAlchemy URL of a throwaway database migrated to head."""
    with provide_database_url() as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def conninfo(database_url: str) -> str:
    return libpq_conninfo(sqlalchemy_url(database_url))


@pytest.fixture
def db(conninfo: str) -> Iterator[psycopg.Connection[Any]]:
    """A direct connection to the test database, emptied before the test."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE capture, room, building, api_token, unknown_sensor, alert_receiver, "
            "alert_evaluation, retention_horizon RESTART IDENTITY CASCADE"
        )
        conn.execute("DELETE FROM sensor_type WHERE key <> 'temperature'")
        # Tests that change the default comfort bounds (maintain aligns them) leave them as the
        # migrations set them (kelvin, 20-24 °C), counted by every piece.
        conn.execute(
            "UPDATE sensor_type SET comfort_low = 293.15, comfort_high = 297.15, "
            "comfort_counted_from = NULL WHERE key = 'temperature'"
        )
        yield conn
        # room_sensor is derived from sensor_assignment (migration 0016); a test that writes
        # assignments with SQL must record the pairs as the service does, or the reads that
        # start from room_sensor would not see its sensors.
        if conn.execute("SELECT to_regclass('room_sensor')").fetchone() != (None,):
            drift = conn.execute(
                "SELECT count(*) FROM ((SELECT DISTINCT room_id, sensor_id FROM sensor_assignment"
                " EXCEPT SELECT room_id, sensor_id FROM room_sensor) UNION ALL"
                " (SELECT room_id, sensor_id FROM room_sensor"
                " EXCEPT SELECT DISTINCT room_id, sensor_id FROM sensor_assignment)) AS d"
            ).fetchone()
            assert drift == (0,), "room_sensor differs from the pairs of sensor_assignment"


@pytest.fixture
def empty_database_url(conninfo: str, database_url: str) -> Iterator[str]:
    """URL of a new, empty database (no schema) on the test server, dropped afterwards."""
    name = "roomtemp_empty"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


#: The suite checks results, not latency: on a loaded CI runner a read that takes 20 ms here
#: once waited past the shipped 1.75 s deadline and was answered 503 (CI, stop 26). In-process
#: apps therefore get roomy deadlines; the tests of the deadlines pass their own values, and
#: the fault checks (tests/system/ops) run servers with the shipped ones.
ROOMY_DEADLINES: dict[str, Any] = {
    "request_timeout_read_seconds": 30.0,
    "request_timeout_write_seconds": 30.0,
    "db_read_statement_timeout_ms": 25_000,
    "db_statement_timeout_ms": 25_000,
}


def make_settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **{**ROOMY_DEADLINES, **overrides})


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def client_factory(database_url: str, db: psycopg.Connection[Any]) -> Iterator[ClientFactory]:
    """Build a client on a fresh app with settings overrides and a clock pinned to NOW."""
    clients: list[TestClient] = []

    def factory(*, now: datetime = NOW, **overrides: Any) -> TestClient:
        overrides.setdefault("database_url", database_url)
        # Auth has its own tests (tests/auth); the feature tests exercise the API without tokens.
        overrides.setdefault("auth_required", False)
        app = create_app(make_settings(**overrides), clock=fixed_clock(now))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(client_factory: ClientFactory) -> TestClient:
    return client_factory()
