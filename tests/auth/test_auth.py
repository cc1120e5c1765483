"""Tokens: each scope does exactly what it should, 401 vs 403, revocation is immediate, the
secret is stored only as an HMAC, the per-token rate limit answers 429 with Retry-After."""

from __future__ import annotations

import hashlib
import hmac
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from roomtemp.api.auth import FailureLimiter
from tests.conftest import ClientFactory
from tests.factories import capture
from tests.system.ops.server import (
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
        # These tests send many wrong tokens on purpose; the failure limit has its own test.
        overrides.setdefault("auth_failure_rate_per_second", 0)
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
    ("GET", "/v1/alerts", None, "read"),  # ack and silence (admin): tests/alerts/test_alert_api.py
    ("POST", "/v1/tokens", {"name": "x", "scopes": ["read"]}, "admin"),
    # Alerts: rules are read with read and changed with admin; receivers (URLs can carry
    # credentials) are admin only.
    ("PUT", "/v1/alert-receivers/ops", {"url": "http://127.0.0.1:9/hook"}, "admin"),
    ("GET", "/v1/alert-receivers", None, "admin"),
    ("GET", "/v1/alert-receivers/ops", None, "admin"),
    (
        "PUT",
        "/v1/alert-rules/hot",
        {"building": "hq", "kind": "above", "threshold": 25, "receivers": ["ops"]},
        "admin",
    ),
    ("GET", "/v1/alert-rules", None, "read"),
    ("GET", "/v1/alert-rules/hot", None, "read"),
]
SCOPES = ("ingest", "read", "admin")
#: The tenant dimension: the answer to a token that has the scope and is limited to hq (own) or
#: to another building (other). Reads of hq from other: 404, as for a building that does not
#: exist; writes: 403; lists answer without hq (tests/auth/test_tenants.py checks their items);
#: tokens, receivers and sensor-type writes concern every building: 403 to both.
OK, HIDDEN, REFUSED = (200, 201), (404,), (403,)
TENANT: dict[tuple[str, str], tuple[tuple[int, ...], tuple[int, ...]]] = {
    ("POST", "/v1/captures"): (OK, REFUSED),
    ("GET", "/v1/buildings/hq/rooms/3.14/average"): (OK, HIDDEN),
    ("GET", OPERATIONS[2][1]): (OK, HIDDEN),
    ("GET", "/v1/buildings/hq/averages"): (OK, HIDDEN),
    ("GET", "/v1/buildings"): (OK, OK),
    ("GET", "/v1/buildings/hq"): (OK, HIDDEN),
    ("GET", "/v1/buildings/hq/rooms"): (OK, HIDDEN),
    ("GET", "/v1/sensor-types"): (OK, OK),
    ("GET", "/v1/sensor-types/temperature"): (OK, OK),
    ("PUT", "/v1/buildings/hq"): (OK, REFUSED),
    ("PUT", "/v1/buildings/hq/rooms/3.14"): (OK, REFUSED),
    ("PUT", "/v1/sensor-types/humidity"): (REFUSED, REFUSED),
    ("GET", "/v1/tokens"): (REFUSED, REFUSED),
    ("GET", "/v1/alerts"): (OK, OK),
    ("POST", "/v1/tokens"): (REFUSED, REFUSED),
    ("PUT", "/v1/alert-receivers/ops"): (REFUSED, REFUSED),
    ("GET", "/v1/alert-receivers"): (REFUSED, REFUSED),
    ("GET", "/v1/alert-receivers/ops"): (REFUSED, REFUSED),
    ("PUT", "/v1/alert-rules/hot"): (OK, REFUSED),
    ("GET", "/v1/alert-rules"): (OK, OK),
    ("GET", "/v1/alert-rules/hot"): (OK, HIDDEN),
}


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

    # The tenant dimension: the same operations with tokens limited to hq or to annex.
    admin = bearer(tokens["admin"])
    assert client.put("/v1/buildings/annex", json={}, headers=admin).status_code == 201
    assert set(TENANT) == {(m, p) for m, p, _, _ in OPERATIONS}
    for scope in SCOPES:
        for side, building in enumerate(("hq", "annex")):
            token = issue_token(database_url, f"{scope}-{building}", scope, buildings=[building])
            for method, path, body, allowed in OPERATIONS:
                r = client.request(method, path, json=body, headers=bearer(token))
                expected = TENANT[(method, path)][side] if scope == allowed else REFUSED
                assert r.status_code in expected, (method, path, scope, building, r.text)
                if r.status_code == 403:
                    assert r.json()["error"]["code"] == "forbidden"
                checked += 1
    assert checked == len(OPERATIONS) * len(SCOPES) * 3


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


# Every path open without a token (the list the docs give); everything else needs one.
OPEN_PATHS = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/docs/assets",  # Swagger UI and ReDoc files, served by the package (offline docs)
    "/redoc",
    "/",
    "/dashboard/{name}",
}


def test_health_and_metrics_stay_open(auth_client: AuthClient) -> None:
    client = auth_client()
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc", "/"):
        assert client.get(path).status_code == 200, path
    assert client.get("/dashboard/app.js").status_code == 200


def _routes(routes: list[Any]) -> Iterator[Any]:
    """Every route, also those of included routers (FastAPI 0.165 keeps them apart)."""
    for route in routes:
        if hasattr(route, "effective_candidates"):
            yield from _routes(route.effective_candidates())
        else:
            yield route


def test_open_paths_are_exactly_the_documented_list(auth_client: AuthClient) -> None:
    client = auth_client()
    app: Any = client.app
    open_paths = set()
    for route in _routes(app.routes):
        path = route.path
        concrete = path.replace("{name}", "app.js").replace("{token_id}", "0123456789ab")
        concrete = re.sub(r"\{[a-z_]+(?::[a-z_]+)?\}", "hq", concrete)  # {key:sensor_key} too
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method == "HEAD":
                continue
            r = client.request(method, concrete)
            if r.status_code != 401:
                open_paths.add(path)
    assert open_paths == OPEN_PATHS


def test_authentication_comes_before_body_and_parameter_validation(
    auth_client: AuthClient, db: psycopg.Connection[Any]
) -> None:
    client = auth_client()
    bad_json: dict[str, Any] = {"content": b"{not json"}
    for method, path, kwargs in [
        ("POST", "/v1/captures", bad_json),
        ("PUT", "/v1/buildings/hq", bad_json),
        ("PUT", "/v1/buildings/hq/rooms/3.14", bad_json),
        ("PUT", "/v1/sensor-types/humidity", bad_json),
        ("POST", "/v1/tokens", bad_json),
        ("PUT", "/v1/sensor-types/humidity", {"json": {"unit": 5}}),
        ("POST", "/v1/tokens", {"json": {"scopes": "all"}}),
        ("GET", "/v1/buildings/hq/averages?window=forever", {}),
        ("GET", "/v1/buildings?limit=0", {}),
        ("GET", "/v1/buildings/hq/report?from=x", {}),
    ]:
        json_type = {"content-type": "application/json"}
        for headers in (json_type, {**json_type, "Authorization": "Bearer rt_nope"}):
            r = client.request(method, path, headers=headers, **kwargs)
            assert r.status_code == 401, (method, path, headers, r.text)


def test_failed_authentication_is_rate_limited_per_client_address(
    auth_client: AuthClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    client = auth_client(auth_failure_rate_per_second=0.5, auth_failure_burst=3)
    good = bearer(issue_token(database_url, "gw", "read"))
    wrong = bearer("rt_0123456789ab_" + "A" * 43)
    assert client.get("/v1/buildings", headers=good).status_code == 200
    statuses = [client.get("/v1/buildings", headers=wrong).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    limited = client.get("/v1/buildings", headers=good)  # the address, not the token, is limited
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == "too_many_requests"
    assert "roomtemp_auth_throttled_requests_total 2.0" in client.get("/metrics").text


def test_failure_limiter_counts_each_address_apart() -> None:
    limiter = FailureLimiter(rate=0.001, burst=2)
    for _ in range(2):
        assert limiter.wait("10.0.0.1") == 0
        limiter.failed("10.0.0.1")
    assert limiter.wait("10.0.0.1") > 0
    assert limiter.wait("10.0.0.2") == 0
    assert FailureLimiter(rate=0, burst=1).wait("x") == 0


def test_token_creation_without_a_hash_key_is_409_not_503(
    client_factory: ClientFactory, db: psycopg.Connection[Any]
) -> None:
    client = client_factory(auth_required=False)  # as `make run` starts it
    r = client.post("/v1/tokens", json={"name": "x", "scopes": ["read"]})
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "tokens_not_configured"
    assert "TOKEN_HASH_KEY" in r.json()["error"]["message"]
    documented = client.get("/openapi.json").json()["paths"]["/v1/tokens"]["post"]
    assert "409" in documented["responses"]
    assert "TOKEN_HASH_KEY" in documented["description"]


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
