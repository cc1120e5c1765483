"""SQL injection and path traversal in every key and parameter, against the real server: each
attempt is refused by validation (4xx, never 5xx) and nothing is executed. Also checks the JSON
access log: one line per request with the request id, and never a token."""

from __future__ import annotations

import json
import socket
from typing import Any
from urllib.parse import quote

import httpx2 as httpx
import psycopg

from tests.system.ops.counts import COUNTS
from tests.system.ops.server import LiveServer, issue_token

SQL = [
    "'; DROP TABLE capture; --",
    "hq' OR '1'='1",
    "1; SELECT pg_sleep(10)",
    'x" UNION SELECT token_hash FROM api_token --',
    "$$; TRUNCATE building $$",
    "hq\x00",
]
TRAVERSAL = ["../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/", "..\\..\\windows"]
ATTACKS = SQL + TRAVERSAL


def raw_get(server: LiveServer, target: str, token: str) -> int:
    """Send a request line exactly as given (httpx would normalise `..` away)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        head = sock.recv(65536).split(b"\r\n", 1)[0]
    return int(head.split()[1])


def test_injection_and_traversal_are_rejected_and_nothing_runs(
    server: LiveServer, database_url: str, db: psycopg.Connection[Any]
) -> None:
    token = issue_token(database_url, "attacker", "ingest", "read", "admin")
    auth = {"Authorization": f"Bearer {token}", "X-Request-ID": "inject-1"}
    statuses: list[int] = []
    raw = 0
    with httpx.Client(base_url=server.url, headers=auth, timeout=30) as client:
        assert (
            client.post(
                "/v1/captures",
                json={
                    "building": "hq",
                    "room": "r1",
                    "value": 294.0,
                    "unit": "kelvin",
                    "ts": "2026-11-22T11:00:00Z",
                },
            ).status_code
            == 201
        )
        for attack in ATTACKS:
            q = quote(attack, safe="")
            requests: list[tuple[str, str, Any]] = [
                ("GET", f"/v1/buildings/{q}", None),
                ("GET", f"/v1/buildings/hq/rooms/{q}/average", None),
                ("GET", f"/v1/buildings/{q}/rooms/r1/averages?from=0&to=60", None),
                ("GET", f"/v1/buildings/hq/rooms/r1/average?sensor_type={q}", None),
                ("GET", f"/v1/buildings/hq/rooms/r1/average?at={q}", None),
                ("GET", f"/v1/buildings/hq/rooms/r1/average?window={q}", None),
                ("GET", f"/v1/buildings/hq/rooms/r1/average?unit={q}", None),
                ("GET", f"/v1/buildings/hq/averages?sensor_type={q}", None),
                ("GET", f"/v1/buildings?cursor={q}", None),
                ("GET", f"/v1/buildings?limit={q}", None),
                ("GET", f"/v1/sensor-types/{q}", None),
                ("PUT", f"/v1/buildings/{q}", {"name": "x"}),
                (
                    "PUT",
                    f"/v1/sensor-types/{q}",
                    {"unit": "kelvin", "min_value": 0, "max_value": 1},
                ),
                ("DELETE", f"/v1/tokens/{q}", None),
            ]
            for field in ("building", "room", "sensor_type", "unit", "ts"):
                item: dict[str, Any] = {
                    "building": "hq",
                    "room": "r1",
                    "value": 294.0,
                    "unit": "kelvin",
                    "ts": "2026-11-22T11:30:00Z",
                    field: attack,
                }
                requests.append(("POST", "/v1/captures", item))
                requests.append(("POST", "/v1/captures", [item]))
            for method, path, payload in requests:
                r = client.request(method, path, json=payload)
                statuses.append(r.status_code)
                assert r.status_code in (400, 404, 405, 422), (method, path, r.status_code, r.text)
        for attack in TRAVERSAL:
            for prefix in ("/", "/v1/", "/v1/buildings/", "/docs/", "/static/"):
                status = raw_get(server, prefix + attack, token)
                raw += 1
                statuses.append(status)
                assert status in (400, 404, 405, 422), (prefix + attack, status)
    COUNTS["responses_5xx"] += sum(1 for s in statuses if s >= 500)
    # Nothing executed: the tables and their rows are as before.
    assert db.execute("SELECT count(*) FROM capture").fetchone() == (1,)
    assert db.execute("SELECT array_agg(key ORDER BY key) FROM building").fetchone() == (["hq"],)
    assert db.execute("SELECT count(*) FROM api_token WHERE revoked_at IS NULL").fetchone() == (1,)

    # The access log: JSON, one line per request, request ids, never the token.
    log = server.log_lines()
    assert all(token not in line for line in log)
    access = [json.loads(line) for line in log if '"logger":"roomtemp.access"' in line]
    assert len(access) >= len(statuses)
    for entry in access:
        assert {
            "ts",
            "level",
            "request_id",
            "method",
            "route",
            "path",
            "status",
            "duration_ms",
            "client",
        } <= set(entry)
        assert entry["request_id"]
    # Every request sent with X-Request-ID: inject-1 (all but the raw ones) logged under it.
    assert sum(1 for e in access if e["request_id"] == "inject-1") == len(statuses) - raw + 1
