"""Body size limit, request ids, security headers, CORS, 405 Allow, and the metrics endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from tests.conftest import ClientFactory
from tests.factories import capture


def test_body_over_the_limit_is_413_before_parsing(
    client_factory: ClientFactory, db: psycopg.Connection[Any]
) -> None:
    client = client_factory(max_body_bytes=2048)
    big = [capture(20 + i / 1000, ts=f"2026-11-22T11:{i % 60:02d}:00Z") for i in range(60)]
    r = client.post("/v1/captures", json=big)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert r.headers["x-request-id"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        yield b"["
        for _ in range(100):
            yield b'{"building":"hq","room":"1","value":21,"unit":"celsius","ts":0},'
        yield b"{}]"

    r = client.post("/v1/captures", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    small = client.post("/v1/captures", json=[capture(21.5)])
    assert small.status_code == 201
    assert db.execute("SELECT count(*) FROM capture").fetchone() == (1,)


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    assert (
        client.get("/healthz", headers={"X-Request-ID": "gw-7.42"}).headers["x-request-id"]
        == "gw-7.42"
    )
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    hostile = client.get("/healthz", headers={"X-Request-ID": "a\tb" + "x" * 300})
    assert hostile.headers["x-request-id"] not in ("a\tb" + "x" * 300,)
    assert len(hostile.headers["x-request-id"]) == 32


def test_security_headers_and_csp_on_html(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["x-content-type-options"] == "nosniff"
    assert docs.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    api = client.get("/healthz")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in api.headers


def test_cors_is_off_by_default_and_configurable(client_factory: ClientFactory) -> None:
    preflight = {"Origin": "https://dash.example", "Access-Control-Request-Method": "GET"}
    off = client_factory()
    assert (
        "access-control-allow-origin" not in off.options("/v1/buildings", headers=preflight).headers
    )
    assert (
        "access-control-allow-origin"
        not in off.get("/healthz", headers={"Origin": "https://dash.example"}).headers
    )
    on = client_factory(cors_origins=["https://dash.example"])
    r = on.options("/v1/buildings", headers=preflight)
    assert r.headers["access-control-allow-origin"] == "https://dash.example"
    evil = on.options("/v1/buildings", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in evil.headers


def test_405_lists_every_allowed_method(client: TestClient) -> None:
    r = client.post("/v1/buildings/hq")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, PUT, PATCH, DELETE"


def test_metrics_follow_naming_conventions_and_count(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    assert (
        client.post(
            "/v1/captures", json=[capture(21.5), capture(21.5, ts="2026-11-22T11:56:00Z")]
        ).status_code
        == 201
    )
    assert client.post("/v1/captures", json=capture(21.5)).status_code == 201  # duplicate
    assert client.post("/v1/captures", json=capture(9999)).status_code == 422
    client.get("/v1/buildings/hq/rooms/3.14/average")
    text = client.get("/metrics").text
    lines = {line for line in text.splitlines() if not line.startswith("#")}
    assert 'roomtemp_captures_total{outcome="inserted"} 2.0' in lines
    assert 'roomtemp_captures_total{outcome="duplicate"} 1.0' in lines
    assert 'roomtemp_captures_rejected_total{reason="implausible_value"} 1.0' in lines
    assert "roomtemp_capture_batch_size_captures_count 3.0" in lines
    assert any(
        line.startswith(
            'roomtemp_http_requests_total{method="GET",route="/v1/buildings/{building}/rooms/{room}'
            '/average",status="200"}'
        )
        for line in lines
    )
    assert any(
        line.startswith("roomtemp_http_request_duration_seconds_count{")
        and 'route="/v1/captures",status="201"' in line
        for line in lines
    )
    queries = {
        line.split('"')[1]
        for line in lines
        if line.startswith("roomtemp_db_query_duration_seconds_count{")
    }
    # ... including the latest average, which runs on the driver directly (db/driver.py).
    assert {"insert capture", "select sensor_type", "select latest_window"} <= queries, queries
    assert any(line.startswith("roomtemp_build_info{") and line.endswith(" 1.0") for line in lines)
    assert "roomtemp_db_pool_connections_max 60.0" in lines  # two pools of 20 + 10
    assert "roomtemp_db_pool_connections_in_use 0.0" in lines
    assert "roomtemp_db_pool_waiting_requests 0.0" in lines
    # Conventions: counters end in _total, durations are in seconds.
    for line in text.splitlines():
        if line.startswith("# TYPE ") and line.endswith(" counter"):
            assert line.split()[2].startswith("roomtemp_")
        if "duration" in line and line.startswith("# TYPE ") and line.endswith(" histogram"):
            assert line.split()[2].endswith("_seconds")


def test_data_the_database_refuses_is_422_not_500(client: TestClient) -> None:
    # Found by `make fuzz`: a NUL byte in a text field used to be a 500.
    for body in (
        {"unit": "\x00", "min_value": 0, "max_value": 1},
        {"unit": "percent", "min_value": 0, "max_value": 1, "description": "a\x00b"},
    ):
        r = client.put("/v1/sensor-types/humidity", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "invalid_data"
