"""The bare references (bench/trivial_app.py) run the statements the service runs for the same
request: every statement the app sends to PostgreSQL (through SQLAlchemy or straight through
psycopg, db/driver.py), recorded at the psycopg cursor on a real app and database, in order."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from bench import trivial_app as ref

_EMPTY_SERIES = "?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&step=15m&window=15m"


@pytest.fixture
def seen(
    client: TestClient, db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """Statements the app sends, in order; building b0 with room r0."""
    db.execute("INSERT INTO building (key, name) VALUES ('b0', 'b0')")
    db.execute("INSERT INTO room (building_id, key, name) SELECT id, 'r0', 'r0' FROM building")
    statements: list[str] = []
    execute = psycopg.AsyncCursor.execute

    async def record(self: psycopg.AsyncCursor[Any], query: Any, *args: Any, **kw: Any) -> Any:
        statements.append(str(query))
        return await execute(self, query, *args, **kw)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", record)
    client.get("/v1/buildings/b0/averages")  # the readiness check's statements, once
    statements.clear()
    return statements


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/buildings/b0/rooms/r0/average", [ref.ROOM_KEYS, ref.WINDOW]),
        ("/v1/buildings/b0/averages", [ref.BUILDING_KEYS, ref.OVERVIEW]),
        (
            "/v1/buildings/b0/rooms/r0/averages" + _EMPTY_SERIES,
            [ref.ROOM_KEYS, ref.series_statement(ref.WINDOW_SPAN, ref.WINDOW_SPAN)],
        ),
    ],
)
def test_reference_statements_are_the_services(
    client: TestClient, seen: list[str], path: str, expected: list[str]
) -> None:
    assert client.get(path).status_code == 200
    assert seen == expected
