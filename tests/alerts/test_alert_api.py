"""Seeing alerts through the API after real evaluation rounds: the list (filters, newest first,
pages), one alert with its transitions and delivery log, ack (who = the token's name), silence
and its lifting, the scopes, and the errors in the API's envelope."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.alerts import service
from roomtemp.alerts.evaluator import evaluate_once
from roomtemp.alerts.schemas import ReceiverIn, RuleIn
from tests.conftest import NOW, ClientFactory
from tests.factories import capture
from tests.system.ops.server import TOKEN_HASH_KEY, issue_token

HOT = {"building": "hq", "kind": "above", "threshold": 25, "unit": "celsius",
       "severity": "critical", "receivers": ["hook"]}  # fmt: skip


def setup_rules(database_url: str, rules: dict[str, dict[str, Any]]) -> None:
    async def go() -> None:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as conn:
                await service.put_receiver(
                    conn, "hook", ReceiverIn(url="http://127.0.0.1:9/hook"), NOW
                )
                for name, body in rules.items():
                    await service.put_rule(conn, name, RuleIn.model_validate(body), NOW)
        finally:
            await engine.dispose()

    asyncio.run(go())


def evaluate(database_url: str, at: datetime) -> None:
    async def go() -> None:
        engine = create_async_engine(database_url)
        try:
            assert (await evaluate_once(engine, at, "UTC")).done
        finally:
            await engine.dispose()

    asyncio.run(go())


def fire(client: TestClient, database_url: str, rooms: tuple[str, ...] = ("3.14",)) -> None:
    """30 °C at 11:55 in each room, a rule above 25 °C over hq, one round at NOW: firing."""
    body = [capture(30, room=r, ts="2026-11-22T11:55:00Z") for r in rooms]
    assert client.post("/v1/captures", json=body).status_code == 201
    setup_rules(database_url, {"hot": HOT})
    evaluate(database_url, NOW)


def test_a_firing_alert_as_listed_and_shown(
    client: TestClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    fire(client, database_url)
    page = client.get("/v1/alerts", params={"state": "firing"}).json()
    assert page["next_cursor"] is None
    [item] = page["items"]
    assert item["rule"] == "hot"
    assert (item["building"], item["room"], item["sensor_type"]) == ("hq", "3.14", "temperature")
    assert (item["severity"], item["state"], item["kind"]) == ("critical", "firing", "above")
    assert item["value"] == pytest.approx(30.0)
    assert item["threshold"] == pytest.approx(25.0)
    assert item["unit"] == "celsius"
    assert item["fired_at"] == item["started_at"] == "2026-11-22T12:00:00Z"
    assert (item["acked_at"], item["silenced_until"], item["silenced"]) == (None, None, False)

    # The delivery log as the sender writes it: one attempt that the receiver refused.
    db.execute(
        "INSERT INTO alert_delivery (outbox_id, attempted_at, status, error, duration_ms) "
        "SELECT id, %s, 503, 'HTTP 503', 12.5 FROM alert_outbox",
        (NOW + timedelta(seconds=1),),
    )
    detail = client.get(f"/v1/alerts/{item['id']}").json()
    steps = [(t["from_state"], t["to_state"]) for t in detail["transitions"]]
    assert steps[-1] == ("pending", "firing")
    assert all(t["value"] == pytest.approx(30.0) for t in detail["transitions"])
    firing_id = detail["transitions"][-1]["id"]
    [delivery] = detail["deliveries"]
    assert delivery["receiver"] == "hook"
    assert delivery["transition_id"] == firing_id
    assert delivery["idempotency_key"] == f"{firing_id}-1"
    assert delivery["delivered_at"] is None
    assert delivery["log"] == [
        {"attempted_at": "2026-11-22T12:00:01Z", "status": 503, "error": "HTTP 503",
         "duration_ms": 12.5}
    ]  # fmt: skip


def test_filters_order_and_pages(
    client: TestClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    fire(client, database_url, rooms=("a", "b", "c"))

    def ids(**params: Any) -> list[int]:
        r = client.get("/v1/alerts", params=params)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    every = ids()
    assert len(every) == 3
    assert every == sorted(every, reverse=True)  # newest first
    assert ids(building="hq", state="firing", severity="critical") == every
    rooms = {i["room"]: i["id"] for i in client.get("/v1/alerts").json()["items"]}
    assert ids(room="b") == [rooms["b"]]
    assert ids(building="other") == []
    assert ids(severity="info") == []
    assert ids(state="resolved") == []
    first = client.get("/v1/alerts", params={"limit": 2}).json()
    assert [i["id"] for i in first["items"]] == every[:2]
    rest = client.get("/v1/alerts", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [i["id"] for i in rest["items"]] == every[2:]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "burning"}, "state"),
        ({"severity": "loud"}, "severity"),
        ({"room": "a b"}, "room"),
        ({"limit": 0}, "limit"),
        ({"cursor": "bm9wZQ"}, "cursor"),  # base64 of "nope": not an id
        ({"rule": "hot"}, "rule"),  # not a parameter of this operation
    ],
)
def test_bad_parameters_are_refused(client: TestClient, params: dict[str, Any], field: str) -> None:
    r = client.get("/v1/alerts", params=params)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] in ("invalid_input", "validation_error")
    assert any(d.get("field") == field for d in error["details"]), error


def test_unknown_alert_is_404_in_the_envelope(client: TestClient) -> None:
    for method, path in [
        ("GET", "/v1/alerts/7"),
        ("POST", "/v1/alerts/7/ack"),
        ("DELETE", "/v1/alerts/7/silence"),
    ]:
        r = client.request(method, path)
        assert r.status_code == 404, (method, r.text)
        assert r.json()["error"]["code"] == "not_found"
    r = client.post("/v1/alerts/7/silence", json={"for": "1h"})
    assert r.status_code == 404
    assert client.get("/v1/alerts/0").status_code == 422


def test_ack_and_silence(
    client: TestClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    fire(client, database_url)
    [item] = client.get("/v1/alerts").json()["items"]
    url = f"/v1/alerts/{item['id']}"
    acked = client.post(f"{url}/ack")
    assert acked.status_code == 200, acked.text
    assert (acked.json()["acked_at"], acked.json()["acked_by"]) == (
        "2026-11-22T12:00:00Z",
        "anonymous",
    )
    silenced = client.post(f"{url}/silence", json={"for": "2h"}).json()
    assert (silenced["silenced_until"], silenced["silenced"]) == ("2026-11-22T14:00:00Z", True)
    until = client.post(f"{url}/silence", json={"until": "2026-11-23T08:00:00+01:00"}).json()
    assert until["silenced_until"] == "2026-11-23T07:00:00Z"
    lifted = client.delete(f"{url}/silence").json()
    assert (lifted["silenced_until"], lifted["silenced"]) == (None, False)
    assert lifted["acked_by"] == "anonymous"  # lifting a silence keeps the ack


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"for": "2h", "until": "2026-11-23T00:00:00Z"}, None),
        ({}, None),
        ({"for": "soon"}, "for"),
        ({"for": "31d"}, "for"),
        ({"until": "2026-11-22T11:00:00Z"}, "until"),  # in the past
        ({"until": "2026-11-23T00:00:00"}, "until"),  # no UTC offset
        ({"for": "1h", "why": "x"}, "why"),
    ],
)
def test_bad_silences_are_refused(
    client: TestClient,
    database_url: str,
    db: psycopg.Connection[Any],
    body: dict[str, Any],
    field: str | None,
) -> None:
    fire(client, database_url)
    [item] = client.get("/v1/alerts").json()["items"]
    r = client.post(f"/v1/alerts/{item['id']}/silence", json=body)
    assert r.status_code == 422, r.text
    if field is not None:
        assert any(field in str(d.get("field")) for d in r.json()["error"]["details"]), r.text


def test_a_resolved_alert_cannot_be_acked_or_silenced(
    client_factory: ClientFactory, database_url: str, db: psycopg.Connection[Any]
) -> None:
    fire(client_factory(), database_url)
    # 20 °C at 12:19: at 12:20 the 15-minute window holds only it, below 25 °C: resolved.
    client = client_factory(now=NOW + timedelta(minutes=20))
    later = capture(20, ts="2026-11-22T12:19:00Z")
    assert client.post("/v1/captures", json=later).status_code == 201
    evaluate(database_url, NOW + timedelta(minutes=20))
    [item] = client.get("/v1/alerts", params={"state": "resolved"}).json()["items"]
    assert item["resolved_at"] == "2026-11-22T12:20:00Z"
    for path, body in [("ack", None), ("silence", {"for": "1h"})]:
        r = client.post(f"/v1/alerts/{item['id']}/{path}", json=body)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "conflict"


def test_scopes_read_sees_admin_acks_with_its_name(
    client_factory: ClientFactory, database_url: str, db: psycopg.Connection[Any]
) -> None:
    fire(client_factory(), database_url)
    client = client_factory(
        auth_required=True, token_hash_key=TOKEN_HASH_KEY, rate_limit_per_second=0
    )
    read = {"Authorization": f"Bearer {issue_token(database_url, 'viewer', 'read')}"}
    admin = {"Authorization": f"Bearer {issue_token(database_url, 'night-shift', 'admin')}"}
    assert client.get("/v1/alerts").status_code == 401
    [item] = client.get("/v1/alerts", headers=read).json()["items"]
    url = f"/v1/alerts/{item['id']}"
    assert client.get(url, headers=read).status_code == 200
    for method, path, body in [
        ("POST", "/ack", None),
        ("POST", "/silence", {"for": "1h"}),
        ("DELETE", "/silence", None),
    ]:
        r = client.request(method, url + path, json=body, headers=read)
        assert r.status_code == 403, r.text
        assert 'scope="admin"' in r.headers["WWW-Authenticate"]
    r = client.post(f"{url}/ack", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["acked_by"] == "night-shift"
