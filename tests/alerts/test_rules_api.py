"""/v1/alert-rules and /v1/alert-receivers: validation (scope, units, kinds, schedule), storage
in the canonical unit, answers in the rule's unit, pagination, deletion, a write-only secret;
and the CLI over the same service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
HOOK = {"url": "http://127.0.0.1:9/hook", "format": "json", "secret": "s3cret-s3cret-s3cret"}


@pytest.fixture
def api(client: TestClient) -> TestClient:
    assert client.put("/v1/buildings/hq", json={"name": "HQ"}).status_code == 201
    assert client.put("/v1/buildings/hq/rooms/r1", json={}).status_code == 201
    assert client.put("/v1/alert-receivers/ops", json=HOOK).status_code == 201
    return client


def _rule(**fields: Any) -> dict[str, Any]:
    return {"building": "hq", "kind": "above", "threshold": 77, "unit": "°F", **fields}


def test_threshold_stored_canonical_answered_in_its_unit(
    api: TestClient, db: psycopg.Connection[Any]
) -> None:
    body = _rule(clear_threshold=75.2, for_seconds=300, receivers=["ops"], room="r1")
    created = api.put("/v1/alert-rules/warm", json=body)
    assert created.status_code == 201, created.text
    out = created.json()
    assert out["unit"] == "fahrenheit"
    assert out["threshold"] == pytest.approx(77)
    assert out["clear_threshold"] == pytest.approx(75.2)
    assert out["receivers"] == ["ops"]
    assert out["room"] == "r1"
    stored = db.execute("SELECT threshold, clear_threshold FROM alert_rule").fetchone()
    assert stored == (pytest.approx(298.15), pytest.approx(297.15))
    replaced = api.put("/v1/alert-rules/warm", json=_rule(threshold=25, unit="celsius"))
    assert replaced.status_code == 200
    assert replaced.json()["receivers"] == []
    assert replaced.json()["created_at"] == out["created_at"]
    assert api.get("/v1/alert-rules/warm").json()["threshold"] == pytest.approx(25)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_rule(building="nowhere"), "building"),
        (_rule(room="nowhere"), "room"),
        (_rule(sensor_type="humidity"), "sensor_type"),
        (_rule(receivers=["nobody"]), "receivers"),
        (_rule(unit="percent"), "unit"),
        (_rule(schedule={"days": [1], "from": "18:00", "to": "08:00"}), "schedule"),
        (_rule(schedule={"from": "25:00"}), "schedule"),
    ],
)
def test_scope_units_receivers_schedule_are_checked(
    api: TestClient, body: dict[str, Any], field: str
) -> None:
    r = api.put("/v1/alert-rules/bad", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_input"
    assert field in json.dumps(r.json()["error"]["details"])


@pytest.mark.parametrize(
    "body",
    [
        _rule(threshold=None),
        _rule(silent_seconds=600),
        _rule(clear_threshold=80),  # above: clears at or below the threshold
        _rule(kind="below", clear_threshold=70),  # below: clears at or above it
        {"building": "hq", "kind": "silent"},
        {"building": "hq", "kind": "silent", "silent_seconds": 600, "threshold": 1},
        _rule(schedule={"days": [0]}),
        _rule(window_seconds=0),
        _rule(severity="page"),
        _rule(receivers=["ops", "ops"]),
        _rule(extra=1),
    ],
)
def test_kind_specific_fields(api: TestClient, body: dict[str, Any]) -> None:
    r = api.put("/v1/alert-rules/bad", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] in ("validation_error", "invalid_input")


def test_list_pages_and_delete(api: TestClient) -> None:
    for name in ("c", "a", "b"):
        assert api.put(f"/v1/alert-rules/{name}", json=_rule()).status_code == 201
    first = api.get("/v1/alert-rules?limit=2").json()
    assert [r["name"] for r in first["items"]] == ["a", "b"]
    second = api.get(f"/v1/alert-rules?limit=2&cursor={first['next_cursor']}").json()
    assert [r["name"] for r in second["items"]] == ["c"]
    assert second["next_cursor"] is None
    assert api.delete("/v1/alert-rules/b").status_code == 204
    assert api.get("/v1/alert-rules/b").status_code == 404
    assert api.delete("/v1/alert-rules/b").status_code == 404
    assert api.get("/v1/alert-rules?limit=2&bogus=1").status_code == 422


def test_receiver_secret_is_write_only(api: TestClient, db: psycopg.Connection[Any]) -> None:
    answers = [
        api.get("/v1/alert-receivers/ops"),
        api.get("/v1/alert-receivers"),
        api.put("/v1/alert-receivers/ops", json=HOOK),
    ]
    for r in answers:
        assert r.status_code == 200, r.text
        assert HOOK["secret"] not in r.text
        assert "secret" not in json.dumps(r.json()).replace("has_secret", "")
    assert answers[0].json()["has_secret"] is True
    unsigned = api.put("/v1/alert-receivers/ops", json={"url": HOOK["url"]})
    assert unsigned.json()["has_secret"] is False
    assert api.put("/v1/alert-receivers/x", json={"url": "ftp://x"}).status_code == 422
    assert api.put("/v1/alert-rules/r", json=_rule(receivers=["ops"])).status_code == 201
    assert api.delete("/v1/alert-receivers/ops").status_code == 204
    assert api.get("/v1/alert-rules/r").json()["receivers"] == []
    assert db.execute("SELECT count(*) FROM alert_receiver").fetchone() == (0,)


def _cli(
    database_url: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_FORMAT": "text"}
    return subprocess.run(
        [sys.executable, "-m", "roomtemp", "alerts", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_cli_over_the_same_service(
    api: TestClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    put = _cli(database_url, "receivers", "put", "pager", json.dumps(HOOK))
    assert put.returncode == 0, put.stderr
    assert HOOK["secret"] not in put.stdout + put.stderr
    body = json.dumps(_rule(receivers=["pager"]))
    assert _cli(database_url, "rules", "put", "hot", "-", stdin=body).returncode == 0
    listed = _cli(database_url, "rules", "list")
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["hot"]
    assert json.loads(listed.stdout)["receivers"] == ["pager"]
    bad = _cli(database_url, "rules", "put", "cold", json.dumps(_rule(building="nowhere")))
    assert bad.returncode == 1
    assert "nowhere" in bad.stderr
    assert _cli(database_url, "rules", "delete", "hot").returncode == 0
    assert api.get("/v1/alert-rules/hot").status_code == 404
    assert _cli(database_url, "rules", "delete", "hot").returncode == 1
