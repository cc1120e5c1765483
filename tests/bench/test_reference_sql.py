"""The bare references (bench/trivial_app.py) run the statements the service runs for the same
request: what the service sends through SQLAlchemy, recorded on a real app and database, is the
references' text (the hot statements go to psycopg directly and are imported as constants)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from bench import trivial_app as ref

_EMPTY_SERIES = "?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&step=15m&window=15m"


@pytest.fixture
def seen(client: TestClient, db: psycopg.Connection[Any]) -> Iterator[list[str]]:
    """Statements the app sends through SQLAlchemy, in order; building b0 with room r0."""
    db.execute("INSERT INTO building (key, name) VALUES ('b0', 'b0')")
    db.execute("INSERT INTO room (building_id, key, name) SELECT id, 'r0', 'r0' FROM building")
    state = client.app.state.roomtemp  # type: ignore[attr-defined]
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])  # (conn, cursor, statement, parameters, context, many)

    engines = {state.engine.sync_engine, state.primary_read_engine.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    client.get("/v1/buildings/b0/averages")  # the readiness check's statements, once
    statements.clear()
    yield statements
    for engine in engines:
        event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/buildings/b0/rooms/r0/average", [ref.HORIZONS]),
        ("/v1/buildings/b0/averages", [ref.HORIZONS, ref.BUILDING[0], ref.SENSOR_TYPE[0]]),
        (
            "/v1/buildings/b0/rooms/r0/averages" + _EMPTY_SERIES,
            [ref.ROOM[0], ref.SENSOR_TYPE[0], ref.HORIZONS],
        ),
    ],
)
def test_reference_registry_statements_are_the_services(
    client: TestClient, seen: list[str], path: str, expected: list[str]
) -> None:
    assert client.get(path).status_code == 200
    assert [s for s in seen if s not in _READS] == expected


# The read statements themselves (sent through SQLAlchemy on this path or straight to psycopg):
# imported by the references from the queries modules, not re-typed.
_READS = {ref.OVERVIEW, ref.series_statement(ref.WINDOW_SPAN, ref.WINDOW_SPAN)}
