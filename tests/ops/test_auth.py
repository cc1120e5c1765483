"""Tokens: each scope does exactly what it should, 401 vs 403, revocation is immediate, the
secret is stored only as an HMAC, the per-token rate limit answers 429 with Retry-After."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.conftest import ClientFactory
from tests.factories import capture
from tests.ops.server import (
    TOKEN_HASH_KEY,
    cli,
    create_token,
    free_port,
    issue_token,
    server_env,
)

AuthClient = Callable[..., TestClient]


@pytest.fixture
def auth_client(client_factory: ClientFactory) -> AuthClient:
    def make(**overrides: Any) -> TestClient:
        overrides.setdefault("rate_limit_per_second", 0)
        return client_factory(auth_required=True, token_hash_key=TOKEN_HASH_KEY, **overrides)

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# (method, path, body, scope that may do it)
OPERATIONS: list[tuple[str, str, Any, str]] = [
    ("POST", "/v1/captures", capture(21.5), "ingest"),
    ("GET", "/v1/buildings/hq/rooms/3.14/average", None, "read"),
    (
        "GET",
        "/v1/buildings/hq/rooms/3.14/averages?from=2026-11-22T11:00:00Z&to=2026-11-22T12:00:00Z",
        None,
        "read",
    ),
    ("GET", "/v1/buildings/hq/averages", None, "read"),
    ("GET", "/v1/buildings", None, "read"),
    ("GET", "/v1/buildings/hq", None, "read"),
    ("GET", "/v1/buildings/hq/rooms", None, "read"),
    ("GET", "/v1/sensor-types", None, "read"),
    ("GET", "/v1/sensor-types/temperature", None, "read"),
    ("PUT", "/v1/buildings/hq", {"name": "HQ"}, "admin"),
    ("PUT", "/v1/buildings/hq/rooms/3.14", {"name": "Lab"}, "admin"),
    (
        "PUT",
        "/v1/sensor-types/humidity",
        {"unit": "percent", "min_value": 0, "max_value": 100},
        "admin",
    ),
    ("GET", "/v1/tokens", None, "admin"),
    ("POST", "/v1/tokens", {"name": "x", "scopes": ["read"]}, "admin"),
]
SCOPES = ("ingest", "read", "admin")


def test_each_scope_can_do_exactly_its_operations(
    auth_client: AuthClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    client = auth_client()
    tokens = {s: issue_token(database_url, f"only-{s}", s) for s in SCOPES}
    # Something to read: one capture in hq/3.14.
    assert (
        client.post(
            "/v1/captures", json=capture(21.5), headers=bearer(tokens["ingest"])
        ).status_code
        == 201
    )
    checked = 0
    for method, path, body, allowed in OPERATIONS:
        for scope, token in tokens.items():
            r = client.request(method, path, json=body, headers=bearer(token))
            if scope == allowed:
                assert r.status_code in (200, 201), (method, path, scope, r.text)
            else:
                assert r.status_code == 403, (method, path, scope, r.text)
                assert r.json()["error"]["code"] == "forbidden"
                assert f'scope="{allowed}"' in r.headers["WWW-Authenticate"]
                assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
            checked += 1
    assert checked == len(OPERATIONS) * len(SCOPES)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-token",
        "Bearer rt_000000000000_" + "A" * 43,
        "bearer " + "x" * 5000,
    ],
)
def test_missing_or_invalid_token_is_401_with_challenge(
    auth_client: AuthClient, db: psycopg.Connection[Any], header: str | None
) -> None:
    client = auth_client()
    headers = {"Authorization": header} if header is not None else {}
    for method, path, body, _ in OPERATIONS:
        r = client.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, (method, path, r.text)
        assert r.headers["WWW-Authenticate"].startswith('Bearer realm="roomtemp"')
        assert set(r.json()["error"]) == {"code", "message", "details"}
    assert db.execute("SELECT count(*) FROM capture").fetchone() == (0,)


def test_a_token_with_a_wrong_secret_is_refused(
    auth_client: AuthClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    token = issue_token(database_url, "gw", "ingest")
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    r = auth_client().post("/v1/captures", json=capture(), headers=bearer(forged))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_health_and_metrics_stay_open(auth_client: AuthClient) -> None:
    client = auth_client()
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert client.get(path).status_code == 200, path


def test_revoked_token_stops_at_once_in_every_process(
    auth_client: AuthClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    # Two apps on one database stand for two workers (or two pods).
    one, two = auth_client(), auth_client()
    admin = issue_token(database_url, "admin", "admin")
    created = one.post(
        "/v1/tokens", json={"name": "gw-9", "scopes": ["ingest"]}, headers=bearer(admin)
    )
    assert created.status_code == 201
    token, token_id = created.json()["token"], created.json()["id"]
    assert two.post("/v1/captures", json=capture(), headers=bearer(token)).status_code == 201
    revoked = one.delete(f"/v1/tokens/{token_id}", headers=bearer(admin))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    for client in (one, two):
        r = client.post("/v1/captures", json=capture(22), headers=bearer(token))
        assert r.status_code == 401
    listed = one.get("/v1/tokens?include_revoked=true", headers=bearer(admin)).json()["items"]
    assert {t["id"] for t in listed} >= {token_id}
    assert one.get("/v1/tokens", headers=bearer(admin)).json()["items"][0]["id"] != token_id
    assert one.delete("/v1/tokens/0123456789ab", headers=bearer(admin)).status_code == 404


def test_cli_token_workflow_stores_only_an_hmac(
    auth_client: AuthClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    token = create_token(database_url, "gw", "ingest", "read")  # `roomtemp token create`
    [(stored, public_id)] = db.execute("SELECT token_hash, public_id FROM api_token").fetchall()
    expected = hmac.new(TOKEN_HASH_KEY.encode(), token.encode(), hashlib.sha256).digest()
    assert bytes(stored) == expected
    assert token.encode() not in bytes(stored)
    listing = cli(database_url, "token", "list")
    assert listing.returncode == 0, listing.stderr
    assert public_id in listing.stdout
    assert token not in listing.stdout
    admin = issue_token(database_url, "admin", "admin")
    body = auth_client().get("/v1/tokens", headers=bearer(admin)).text
    assert public_id in body
    assert token not in body
    assert "token_hash" not in body
    client = auth_client()
    assert client.get("/v1/buildings", headers=bearer(token)).status_code == 200
    done = cli(database_url, "token", "revoke", public_id)
    assert done.returncode == 0, done.stderr
    assert client.get("/v1/buildings", headers=bearer(token)).status_code == 401


def test_invalid_token_requests_are_422(
    auth_client: AuthClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    client = auth_client()
    admin = bearer(issue_token(database_url, "admin", "admin"))
    for body in (
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["root"]},
        {"name": "", "scopes": ["read"]},
        {"name": "x\n", "scopes": ["read"]},
    ):
        assert client.post("/v1/tokens", json=body, headers=admin).status_code == 422, body


def test_rate_limit_is_per_token_with_retry_after(
    auth_client: AuthClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    client = auth_client(rate_limit_per_second=0.5, rate_limit_burst=3)
    fast, other = issue_token(database_url, "a", "read"), issue_token(database_url, "b", "read")
    statuses = [client.get("/v1/buildings", headers=bearer(fast)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/v1/buildings", headers=bearer(fast))
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == "too_many_requests"
    assert client.get("/v1/buildings", headers=bearer(other)).status_code == 200


def test_auth_required_without_key_refuses_to_start(client_factory: ClientFactory) -> None:
    with pytest.raises(RuntimeError, match="TOKEN_HASH_KEY"):
        client_factory(auth_required=True)


def test_serve_refuses_to_start_with_auth_but_no_key(database_url: str) -> None:
    env = server_env(database_url, PORT=str(free_port()))
    del env["TOKEN_HASH_KEY"]
    done = subprocess.run(
        [sys.executable, "-m", "roomtemp", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "TOKEN_HASH_KEY is not set" in done.stdout
