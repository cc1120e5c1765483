"""One error envelope everywhere; health and readiness; a database that is down gives 503."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ClientFactory
from tests.factories import capture


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
