"""Fixtures for the data-lifecycle tests: a scratch database per module, async engines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

DB_NAME = "roomtemp_lifecycle"


@pytest.fixture
def scratch_url(conninfo: str, database_url: str) -> Iterator[str]:
    """An empty database on the test server (not migrated), dropped afterwards."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    yield make_url(database_url).set(database=DB_NAME).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def partitions(conn: psycopg.Connection[Any]) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'capture'::regclass ORDER BY 1"
        )
    ]


@pytest.fixture
def clean_partitions(db: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    """The shared test database with only the default partition left, before and after."""

    def drop() -> None:
        for name in partitions(db):
            if name != "capture_default":
                db.execute(f'DROP TABLE "{name}"')

    drop()
    yield db
    drop()
