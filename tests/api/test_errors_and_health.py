"""One error envelope everywhere; health and readiness; a database that is down gives 503."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from roomtemp.app import create_app
from roomtemp.obs.logging import request_id_var
from tests.conftest import NOW, ClientFactory, make_settings
from tests.factories import capture
from tests.system.ops.server import free_port


def assert_envelope(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["details"], list)


def test_404_and_405_use_the_envelope(client: TestClient) -> None:
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404
    assert_envelope(r.json(), "not_found")
    r = client.delete("/v1/captures")
    assert r.status_code == 405
    assert_envelope(r.json(), "method_not_allowed")


def test_fastapi_validation_errors_use_the_envelope(client: TestClient) -> None:
    r = client.get("/v1/buildings", params={"limit": "many"})
    assert r.status_code == 422
    assert_envelope(r.json(), "validation_error")
    assert r.json()["error"]["details"][0]["field"] == "limit"


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == "ready"


def test_openapi_and_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/captures" in spec["paths"]
    body = spec["paths"]["/v1/captures"]["post"]["requestBody"]["content"]["application/json"]
    assert "oneOf" in body["schema"]
    assert client.get("/docs").status_code == 200


def test_database_down_gives_503(client_factory: ClientFactory) -> None:
    client = client_factory(
        database_url="postgresql://nobody:secret@127.0.0.1:1/none", db_connect_timeout_seconds=1
    )
    assert client.get("/healthz").status_code == 200
    r = client.get("/readyz")
    assert r.status_code == 503
    assert "secret" not in r.text
    for method, path, body in [
        ("POST", "/v1/captures", capture(20)),
        ("GET", "/v1/buildings", None),
        ("GET", "/v1/buildings/hq/rooms/1/average", None),
    ]:
        r = client.request(method, path, json=body)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] in {"database_unavailable", "schema_not_ready"}
        assert "secret" not in r.text


def test_readiness_gate_until_migrated(
    client_factory: ClientFactory, empty_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from roomtemp.db import migrate

    client = client_factory(database_url=empty_database_url)
    assert "not at head" in caplog.text
    r = client.get("/readyz")
    assert r.status_code == 503
    assert "roomtemp migrate" in r.json()["database"]
    r = client.post("/v1/captures", json=capture(20))
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "schema_not_ready"
    migrate.upgrade(empty_database_url)
    assert client.get("/readyz").status_code == 200
    assert client.post("/v1/captures", json=capture(20)).status_code == 201


class _Records(logging.Handler):
    """Keeps each record with the request id current when it was logged."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[logging.LogRecord, str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record, request_id_var.get()))


@contextmanager
def _uvicorn(app: FastAPI) -> Iterator[int]:
    """`app` served by a real uvicorn (HTTP/1.1 keep-alive) on a free port, in a thread."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn exited"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_unexpected_error_is_json_500_and_the_connection_stays_usable(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    app = create_app(make_settings(database_url=database_url, auth_required=False))

    @app.get("/test-only/boom")
    async def boom() -> None:  # a bug in a handler, as the server sees it
        raise RuntimeError("boom")

    records = _Records()
    logging.getLogger("roomtemp").addHandler(records)
    with ExitStack() as stack:
        stack.callback(logging.getLogger("roomtemp").removeHandler, records)
        with _uvicorn(app) as port:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            stack.callback(conn.close)
            conn.request("GET", "/test-only/boom", headers={"X-Request-ID": "boom-42"})
            r = conn.getresponse()
            body = json.loads(r.read())
            assert r.status == 500
            assert_envelope(body, "internal_error")
            assert r.getheader("X-Request-ID") == "boom-42"
            sock = conn.sock
            assert sock is not None
            # The same keep-alive connection serves the next request (uvicorn closed it before).
            conn.auto_open = 0  # never reconnect silently
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            assert r.status == 200
            assert json.loads(r.read()) == {"status": "ok"}
            assert conn.sock is sock
    logged = [(rec, rid) for rec, rid in records.seen if rec.levelno >= logging.ERROR]
    assert [rid for _, rid in logged] == ["boom-42"]
    assert logged[0][0].exc_info is not None  # with its stack


def _room_with_captures(client: TestClient, db: psycopg.Connection[Any], n: int) -> None:
    """Room hq/3.14 with `n` captures, one a minute up to NOW (bulk-inserted in SQL)."""
    assert client.post("/v1/captures", json=capture(20)).status_code == 201
    db.execute(
        "INSERT INTO capture (room_id, sensor_id, ts, value) "
        "SELECT s.default_room_id, s.id, %s - g * interval '1 minute', 290 + g %% 7 "
        "FROM sensor s, generate_series(1, %s) g "
        "WHERE s.key IS NULL ON CONFLICT DO NOTHING",
        (NOW, n),
    )


def test_series_too_expensive_for_raw_captures_is_refused_at_once(
    client_factory: ClientFactory, db: psycopg.Connection[Any]
) -> None:
    client = client_factory()
    _room_with_captures(client, db, 100_000)
    # The shape: 9,960 points x 24 h over 100,000 captures, within every other limit.
    r = client.get(
        "/v1/buildings/hq/rooms/3.14/averages",
        params={
            "from": "2026-11-15T14:00:00Z",
            "to": "2026-11-22T12:00:00Z",
            "step": "1m",
            "window": "24h",
        },
    )
    # Refused before any query ran: had the query run, the read statement timeout would have
    # answered query_too_expensive instead (it took 5.2 s before this bound).
    assert r.status_code == 422, r.text
    assert_envelope(r.json(), "invalid_input")
    assert r.json()["error"]["details"][0]["field"] == "step"
    assert "point-hours" in r.json()["error"]["message"]


def test_read_stopped_by_its_statement_timeout_is_422_not_an_outage(
    client_factory: ClientFactory, db: psycopg.Connection[Any]
) -> None:
    client = client_factory(db_read_statement_timeout_ms=1)
    _room_with_captures(client, db, 20_000)
    r = client.get(
        "/v1/buildings/hq/rooms/3.14/averages",
        params={
            "from": "2026-11-21T12:00:00Z",
            "to": "2026-11-22T12:00:00Z",
            "step": "1m",
            "window": "1h",
        },
    )
    assert r.status_code == 422, r.text
    assert_envelope(r.json(), "query_too_expensive")
    metrics = client.get("/metrics").text
    assert "roomtemp_db_statement_timeouts_total 1.0" in metrics
    assert "roomtemp_db_unavailable_responses_total 0.0" in metrics
