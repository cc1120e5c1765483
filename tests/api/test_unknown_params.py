"""Every /v1 operation refuses query parameters it does not declare (422 invalid_input, one
detail per name), after the token check and before anything else; declared names pass."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from roomtemp.app import create_app
from tests.conftest import ClientFactory, make_settings

ROOT = Path(__file__).resolve().parents[2]
_SAMPLE = {
    "building": "hq",
    "room": "r1",
    "key": "k1",
    "token_id": "t1",
    "name": "n1",
    "alert_id": "1",
}


def _openapi() -> dict[str, Any]:
    settings = make_settings(
        database_url="postgresql://roomtemp@127.0.0.1:1/roomtemp", auth_required=False
    )
    document: dict[str, Any] = create_app(settings).openapi()
    return document


def _operations() -> list[tuple[str, str, list[str]]]:
    """(method, path template, declared query names) of every /v1 operation."""
    found = []
    for path, ops in _openapi()["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, op in ops.items():
            names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            found.append((method, path, names))
    return found


OPERATIONS = _operations()
GETS = [(path, names) for method, path, names in OPERATIONS if method == "get"]


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: _SAMPLE[m[1]], path)


def test_the_table_covers_the_api() -> None:
    # A guard against an empty table passing vacuously: the API has this many GET operations.
    assert len(GETS) >= 15
    assert any("from" in names for _, names in GETS)


@pytest.mark.parametrize(("path", "declared"), GETS, ids=[p for p, _ in GETS])
def test_every_get_refuses_an_unknown_parameter(
    client: TestClient, path: str, declared: list[str]
) -> None:
    r = client.get(_url(path), params={"bogus": "1", "stpe": "1h"})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_input"
    assert [(d["field"], d["message"]) for d in error["details"]] == [
        ("bogus", "unknown parameter"),
        ("stpe", "unknown parameter"),
    ]
    # Each declared name passes the check (its value may still be refused, for its own reason).
    for name in declared:
        r = client.get(_url(path), params={name: "x"})
        details = r.json().get("error", {}).get("details", []) if r.status_code >= 400 else []
        assert all(d.get("code") != "unknown_parameter" for d in details), (name, r.text)


@pytest.mark.parametrize(
    ("method", "path"),
    [(m, p) for m, p, _ in OPERATIONS if m != "get"],
)
def test_writes_refuse_unknown_parameters_too(client: TestClient, method: str, path: str) -> None:
    r = client.request(method.upper(), _url(path), params={"dry_run": "1"}, json={})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["field"] == "dry_run"


def test_the_token_is_checked_first(client_factory: ClientFactory) -> None:
    client = client_factory(auth_required=True, token_hash_key="k" * 40)
    r = client.get("/v1/buildings", params={"bogus": "1"})
    assert r.status_code == 401


def test_open_endpoints_are_not_affected(client: TestClient) -> None:
    assert client.get("/healthz", params={"probe": "1"}).status_code == 200
    assert client.get("/", params={"building": "hq"}).status_code == 200


def _grafana_queries() -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            url = node.get("url")
            if isinstance(url, str) and url.startswith("/v1/"):
                options = node.get("url_options") or {}
                found.append((url, [p["key"] for p in options.get("params", [])]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for dashboard in sorted((ROOT / "helm/roomtemp/dashboards").glob("*.json")):
        walk(json.loads(dashboard.read_text()))
    return found


def test_grafana_dashboards_send_only_declared_parameters() -> None:
    queries = _grafana_queries()
    assert queries  # the Infinity panels are found
    templates = [
        (re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$"), names)
        for path, names in GETS
    ]
    for url, params in queries:
        concrete = re.sub(r"\$\{?\w+\}?", "x", url)
        matches = [names for pattern, names in templates if pattern.match(concrete)]
        assert matches, url
        assert set(params) <= set(matches[0]), (url, sorted(set(params) - set(matches[0])))
