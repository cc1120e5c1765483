"""Fixtures and helpers for the partition tests; the report tests reuse clean_partitions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url


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
