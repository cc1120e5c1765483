"""Tokens scoped to buildings: a token for building A cannot see or write building B through any
path (reads 404 exactly as for a building that does not exist, writes 403), lists show only
A, and every /v1 route is covered by the check (a route walk that fails on a new one)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from roomtemp.api.auth import building_scope, every_building
from tests.alerts.test_alert_api import evaluate, setup_rules
from tests.conftest import NOW, ClientFactory
from tests.factories import capture
from tests.system.ops.server import TOKEN_HASH_KEY, cli, issue_token

A, B, NOWHERE = "hq", "annex", "nowhere"
ROOM = {A: "3.14", B: "1.01", NOWHERE: "1.01"}
SENSOR = {A: "gw-a", B: "gw-b"}
TS = 1795867200  # 2026-11-22T12:00:00Z, seconds since the epoch
SERIES = {"from": "2026-11-22T11:00:00Z", "to": "2026-11-22T12:00:00Z"}
#: Query parameters a read needs to answer 200 (by the end of its path template).
PARAMS: dict[str, dict[str, str]] = {"/rooms/{room}/averages": SERIES, "/report": SERIES}
#: /v1 routes that hold nothing of any building: open to scoped tokens as they are.
NO_BUILDING_DATA = {("GET", "/v1/sensor-types"), ("GET", "/v1/sensor-types/{key}")}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        if hasattr(route, "effective_candidates"):
            yield from _routes(route.effective_candidates())
        elif hasattr(route, "dependant") and route.path.startswith("/v1/"):
            yield route


def _calls(dependant: Any) -> Iterator[Any]:
    yield dependant.call
    for d in dependant.dependencies:
        yield from _calls(d)


def _router_calls(route: Any) -> set[Any]:
    """The route's and its router's dependencies (FastAPI 0.165 keeps the router's apart)."""
    return {d.dependency for d in route.dependencies}


def _operations(app: Any) -> Iterator[tuple[str, str, Any]]:
    for route in _routes(app.routes):
        for method in sorted(route.methods - {"HEAD"}):
            yield method, route.path, route


@pytest.fixture
def auth_client(client_factory: ClientFactory) -> TestClient:
    return client_factory(
        auth_required=True,
        token_hash_key=TOKEN_HASH_KEY,
        rate_limit_per_second=0,
        auth_failure_rate_per_second=0,
    )


def test_every_v1_route_is_covered_by_the_building_check(auth_client: TestClient) -> None:
    """A `{building}` path is checked by the auth check itself; every other /v1 route takes the
    caller's buildings (Reach) or refuses scoped tokens (EveryBuilding), or holds nothing of
    any building (the short list above). A new route that does none of these fails here."""
    uncovered, stale = [], set(NO_BUILDING_DATA)
    for method, path, route in _operations(auth_client.app):
        stale.discard((method, path))
        if "{building}" in path:
            continue
        calls = set(_calls(route.dependant)) | _router_calls(route)
        if building_scope in calls or every_building in calls:
            continue
        if (method, path) not in NO_BUILDING_DATA:
            uncovered.append((method, path))
        names = {p.name for p in route.dependant.query_params + route.dependant.body_params}
        assert not names & {"building", "room", "body"}, (method, path)
    assert uncovered == []
    assert stale == set()


Setup = tuple[TestClient, dict[str, str], str]


def _fill(db: psycopg.Connection[Any], client: TestClient, admin: dict[str, str]) -> None:
    """Both buildings alike: a room with captures, a registered sensor with captures, a rule
    that fires (one alert each)."""
    for b in (A, B):
        r = client.post("/v1/captures", json=capture(30, building=b, room=ROOM[b]), headers=admin)
        assert r.status_code == 201, r.text
        sensor = {"key": SENSOR[b], "sensor_type": "temperature", "building": b, "room": ROOM[b]}
        assert client.post("/v1/sensors", json=sensor, headers=admin).status_code == 201
        reading = {
            "sensor": SENSOR[b],
            "value": 29,
            "unit": "celsius",
            "ts": "2026-11-22T12:00:00Z",
        }
        r = client.post("/v1/captures", json=reading, headers=admin)
        assert r.status_code == 201, r.text


@pytest.fixture
def tenant(auth_client: TestClient, database_url: str, db: psycopg.Connection[Any]) -> Setup:
    """(client, headers of a token for A with every scope, an unlimited admin token)."""
    admin = issue_token(database_url, "root", "ingest", "read", "admin")
    _fill(db, auth_client, bearer(admin))
    hot = {"kind": "above", "threshold": 25, "unit": "celsius", "receivers": ["hook"]}
    setup_rules(database_url, {"hot-a": {**hot, "building": A}, "hot-b": {**hot, "building": B}})
    evaluate(database_url, NOW)
    token = issue_token(database_url, "tenant-a", "ingest", "read", "admin", buildings=[A])
    return auth_client, bearer(token), admin


def _concrete(path: str, building: str) -> str:
    path = path.replace("{building}", building).replace("{room}", ROOM[building])
    return path


def _params(path: str) -> dict[str, str]:
    return next((p for end, p in PARAMS.items() if path.endswith(end)), {})


def _same_answer(outside: Any, unknown: Any) -> bool:
    """The same status and body, the building key aside (each names its own)."""
    text = outside.text.replace(B, "<key>")
    other = unknown.text.replace(NOWHERE, "<key>")
    return bool(outside.status_code == unknown.status_code and text == other)


def test_building_paths_outside_the_token_are_404_for_reads_and_403_for_writes(
    tenant: Setup, db: psycopg.Connection[Any]
) -> None:
    """Every route with a {building} path, found by walking the app: averages, series, the
    overview, registry, report, export and the live streams."""
    client, token, _ = tenant
    before = db.execute("SELECT (SELECT count(*) FROM room), (SELECT name FROM building "
                        "WHERE key = %s)", (B,)).fetchone()  # fmt: skip
    checked = 0
    for method, path, _ in _operations(client.app):
        if "{building}" not in path:
            continue
        params = _params(path)
        body = {"name": "taken over"} if method in ("PUT", "POST", "PATCH") else None
        outside = client.request(
            method, _concrete(path, B), params=params, json=body, headers=token
        )
        if method == "GET":
            unknown = client.get(_concrete(path, NOWHERE), params=params, headers=token)
            assert outside.status_code == 404, (path, outside.text)
            assert _same_answer(outside, unknown), (path, outside.text, unknown.text)
            if not path.endswith("/live"):  # a stream never ends; tests/live has A's stream
                own = client.get(_concrete(path, A), params=params, headers=token)
                assert own.status_code == 200, (path, own.text)
        else:
            assert outside.status_code == 403, (method, path, outside.text)
            assert outside.json()["error"]["code"] == "forbidden"
        checked += 1
    assert checked >= 12
    after = db.execute("SELECT (SELECT count(*) FROM room), (SELECT name FROM building "
                       "WHERE key = %s)", (B,)).fetchone()  # fmt: skip
    assert after == before


def _keys(r: Any, field: str = "key") -> list[str]:
    assert r.status_code == 200, r.text
    return [i[field] for i in r.json()["items"]]


def test_lists_show_only_the_tokens_buildings(tenant: Setup) -> None:
    client, token, admin = tenant
    assert _keys(client.get("/v1/buildings", headers=token)) == [A]
    assert _keys(client.get("/v1/buildings", headers=bearer(admin))) == [B, A]
    sensors = _keys(client.get("/v1/sensors", headers=token))
    assert sensors == [SENSOR[A], f"{A}/{ROOM[A]}/temperature"]
    assert _keys(client.get("/v1/sensors", params={"building": B}, headers=token)) == []
    assert _keys(client.get("/v1/alert-rules", headers=token), "name") == ["hot-a"]
    alerts = client.get("/v1/alerts", headers=token)
    assert {a["building"] for a in alerts.json()["items"]} == {A}
    assert _keys(client.get("/v1/alerts", params={"building": B}, headers=token), "id") == []


def _alert_id(db: psycopg.Connection[Any], building: str) -> int:
    row = db.execute(
        "SELECT a.id FROM alert a JOIN alert_rule r ON r.id = a.rule_id "
        "JOIN building b ON b.id = r.building_id WHERE b.key = %s",
        (building,),
    ).fetchone()
    assert row is not None
    return int(row[0])


Case = tuple[str, str, str, Any, int]


def _cases(db: psycopg.Connection[Any]) -> list[Case]:
    """(method, route template, concrete path outside the token, body, status) for every /v1
    route without a {building} path; reads of B's things are compared with unknown ones."""
    alert_b = _alert_id(db, B)
    default_b = f"{B}/{ROOM[B]}/temperature"
    sensor_b = SENSOR[B]
    rule = {"building": B, "kind": "above", "threshold": 20, "receivers": ["hook"]}
    return [
        ("GET", "/v1/buildings", "/v1/buildings", None, 200),  # test_lists_…
        ("GET", "/v1/sensors", "/v1/sensors", None, 200),  # test_lists_…
        ("GET", "/v1/alert-rules", "/v1/alert-rules", None, 200),  # test_lists_…
        ("GET", "/v1/alerts", "/v1/alerts", None, 200),  # test_lists_…
        ("GET", "/v1/sensors/{key:sensor_key}", f"/v1/sensors/{sensor_b}", None, 404),
        ("GET", "/v1/sensors/{key:sensor_key}", f"/v1/sensors/{default_b}", None, 404),
        ("GET", "/v1/sensors/{key:sensor_key}/assignments",
         f"/v1/sensors/{sensor_b}/assignments", None, 404),
        ("GET", "/v1/sensors/{key:path}/average", f"/v1/sensors/{sensor_b}/average", None, 404),
        ("GET", "/v1/sensors/{key:path}/averages", f"/v1/sensors/{sensor_b}/averages", None, 404),
        ("GET", "/v1/sensors/{key:path}/captures", f"/v1/sensors/{default_b}/captures", None,
         404),
        ("GET", "/v1/alert-rules/{name}", "/v1/alert-rules/hot-b", None, 404),
        ("GET", "/v1/alerts/{alert_id}", f"/v1/alerts/{alert_b}", None, 404),
        ("PATCH", "/v1/sensors/{key:sensor_key}", f"/v1/sensors/{sensor_b}", {"name": "x"}, 403),
        ("DELETE", "/v1/sensors/{key:sensor_key}", f"/v1/sensors/{sensor_b}", None, 403),
        ("POST", "/v1/sensors/{key:sensor_key}/moves", f"/v1/sensors/{sensor_b}/moves",
         {"building": A, "room": ROOM[A]}, 403),
        ("POST", "/v1/sensors/{key:sensor_key}/moves", f"/v1/sensors/{SENSOR[A]}/moves",
         {"building": B, "room": ROOM[B]}, 403),
        ("POST", "/v1/sensors", "/v1/sensors",
         {"key": "gw-c", "sensor_type": "temperature", "building": B, "room": ROOM[B]}, 403),
        ("GET", "/v1/sensors/unknown", "/v1/sensors/unknown", None, 403),
        ("PUT", "/v1/alert-rules/{name}", "/v1/alert-rules/hot-b", {**rule, "building": A}, 403),
        ("PUT", "/v1/alert-rules/{name}", "/v1/alert-rules/new", rule, 403),
        ("DELETE", "/v1/alert-rules/{name}", "/v1/alert-rules/hot-b", None, 403),
        ("POST", "/v1/alerts/{alert_id}/ack", f"/v1/alerts/{alert_b}/ack", None, 403),
        ("POST", "/v1/alerts/{alert_id}/silence", f"/v1/alerts/{alert_b}/silence",
         {"for": "1h"}, 403),
        ("DELETE", "/v1/alerts/{alert_id}/silence", f"/v1/alerts/{alert_b}/silence", None, 403),
        ("POST", "/v1/captures", "/v1/captures", capture(1, building=B, room=ROOM[B]), 403),
        ("PUT", "/v1/sensor-types/{key}", "/v1/sensor-types/temperature",
         {"unit": "celsius", "min_value": -50, "max_value": 60}, 403),
        ("GET", "/v1/tokens", "/v1/tokens", None, 403),
        ("POST", "/v1/tokens", "/v1/tokens", {"name": "mine", "scopes": ["admin"]}, 403),
        ("DELETE", "/v1/tokens/{token_id}", "/v1/tokens/0123456789ab", None, 403),
        ("GET", "/v1/alert-receivers", "/v1/alert-receivers", None, 403),
        ("GET", "/v1/alert-receivers/{name}", "/v1/alert-receivers/hook", None, 403),
        ("PUT", "/v1/alert-receivers/{name}", "/v1/alert-receivers/hook",
         {"url": "http://127.0.0.1:9/mine"}, 403),
        ("DELETE", "/v1/alert-receivers/{name}", "/v1/alert-receivers/hook", None, 403),
        ("DELETE", "/v1/sensor-types/{key}", "/v1/sensor-types/temperature", None, 403),
        ("GET", "/v1/deletions", "/v1/deletions", None, 403),
        ("GET", "/v1/sensor-types", "/v1/sensor-types", None, 200),
        ("GET", "/v1/sensor-types/{key}", "/v1/sensor-types/temperature", None, 200),
    ]  # fmt: skip


#: The same read of something that does not exist, to compare a 404 with.
def _unknown(path: str, alert_id: int) -> tuple[str, Callable[[str], str]]:
    for real, fake in ((f"{B}/{ROOM[B]}/temperature", f"{B}/{ROOM[B]}/nosuch"),
                       (SENSOR[B], "gw-none"), ("hot-b", "hot-none"),
                       (f"/alerts/{alert_id}", "/alerts/999999")):  # fmt: skip
        if real in path:
            real, fake = real.removeprefix("/alerts/"), fake.removeprefix("/alerts/")
            return path.replace(real, fake), lambda text, r=real, f=fake: text.replace(f, r)
    raise AssertionError(path)


def test_every_other_route_keeps_building_b_from_a_token_for_a(
    tenant: Setup, db: psycopg.Connection[Any]
) -> None:
    client, token, _ = tenant
    cases = _cases(db)
    covered = {(m, t) for m, t, *_ in cases}
    for method, path, _ in _operations(client.app):
        if "{building}" not in path:
            assert (method, path) in covered, f"{method} {path}: add a tenant case"
    counts = db.execute("SELECT (SELECT count(*) FROM capture), (SELECT count(*) FROM sensor), "
                        "(SELECT count(*) FROM alert_rule)").fetchone()  # fmt: skip
    alert_b = _alert_id(db, B)
    for method, _, path, body, status in cases:
        params = SERIES if path.endswith("/averages") else None
        r = client.request(method, path, json=body, params=params, headers=token)
        assert r.status_code == status, (method, path, r.text)
        if status == 403:
            assert r.json()["error"]["code"] == "forbidden", r.text
        if status == 404:
            fake, restore = _unknown(path, alert_b)
            unknown = client.request(method, fake, params=params, headers=token)
            assert unknown.status_code == 404, (fake, unknown.text)
            assert r.text == restore(unknown.text), (path, r.text, unknown.text)
    after = db.execute("SELECT (SELECT count(*) FROM capture), (SELECT count(*) FROM sensor), "
                       "(SELECT count(*) FROM alert_rule)").fetchone()  # fmt: skip
    assert after == counts
    assert db.execute("SELECT acked_at, silenced_until FROM alert WHERE id = %s",
                      (alert_b,)).fetchone() == (None, None)  # fmt: skip


# Two scalar subqueries, not count(*) over capture with one over room in its select list: Citus
# cannot push a subquery in the target list of an aggregate over a distributed table down.
_CAPTURES_AND_ROOMS = "SELECT (SELECT count(*) FROM capture), (SELECT count(*) FROM room)"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", None),  # a JSON array: A, then B
        ("application/x-ndjson", f'{{"building":"{A}","room":"9","value":20,"ts":{TS}}}\n'
                                 f'{{"building":"{B}","room":"9","value":20,"ts":{TS}}}\n'),
        ("text/csv", f"building,room,value,ts\n{A},9,20,{TS}\n{B},9,20,{TS}\n"),
    ],
)  # fmt: skip
def test_a_batch_that_touches_another_building_is_refused_whole(
    tenant: Setup, db: psycopg.Connection[Any], content_type: str, body: str | None
) -> None:
    client, token, _ = tenant
    before = db.execute(_CAPTURES_AND_ROOMS).fetchone()
    headers = {**token, "content-type": content_type}
    if body is None:
        items = [capture(20, room="9"), capture(20, building=B, room="9")]
        r = client.post("/v1/captures", json=items, headers=token)
    else:
        r = client.post("/v1/captures", content=body.encode(), headers=headers)
    assert r.status_code == 403, r.text
    assert B in r.json()["error"]["message"]
    after = db.execute(_CAPTURES_AND_ROOMS).fetchone()
    assert after == before  # nothing stored, no room auto-registered
    own = client.post("/v1/captures", json=[capture(20, room="9")], headers=token)
    assert own.status_code == 201


def test_a_sensor_capture_counts_in_the_building_the_sensor_was_in(
    tenant: Setup, db: psycopg.Connection[Any]
) -> None:
    client, token, _ = tenant
    before = db.execute("SELECT count(*) FROM capture").fetchone()
    mixed = [
        {"sensor": SENSOR[A], "value": 21, "unit": "celsius", "ts": "2026-11-22T12:00:00Z"},
        {"sensor": SENSOR[B], "value": 21, "unit": "celsius", "ts": "2026-11-22T12:00:00Z"},
    ]
    r = client.post("/v1/captures", json=mixed, headers=token)
    assert r.status_code == 403, r.text
    assert B not in r.json()["error"]["message"]  # where another's sensor is stays unsaid
    assert db.execute("SELECT count(*) FROM capture").fetchone() == before
    assert client.post("/v1/captures", json=mixed[:1], headers=token).status_code == 201


def test_token_buildings_are_given_checked_and_shown(
    auth_client: TestClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    client = auth_client
    admin = bearer(issue_token(database_url, "root", "ingest", "admin"))
    for b in (A, B):
        assert client.put(f"/v1/buildings/{b}", json={}, headers=admin).status_code == 201
    unknown = client.post(
        "/v1/tokens", json={"name": "t", "scopes": ["read"], "buildings": [A, "ghost"]},
        headers=admin,
    )  # fmt: skip
    assert unknown.status_code == 422, unknown.text
    [detail] = unknown.json()["error"]["details"]
    assert detail["field"] == "buildings"
    assert "'ghost'" in detail["message"]
    empty = {"name": "t", "scopes": ["read"], "buildings": []}
    assert client.post("/v1/tokens", json=empty, headers=admin).status_code == 422
    made = client.post(
        "/v1/tokens", json={"name": "t", "scopes": ["read"], "buildings": [B, A]}, headers=admin
    )
    assert made.status_code == 201, made.text
    assert made.json()["buildings"] == [B, A]
    listed = {t["name"]: t["buildings"] for t in client.get("/v1/tokens", headers=admin).json()[
        "items"]}  # fmt: skip
    assert listed == {"root": None, "t": [B, A]}
    got = client.get("/v1/buildings", headers=bearer(made.json()["token"]))
    assert _keys(got) == [B, A]

    done = cli(database_url, "token", "create", "--name", "gw", "--scope", "ingest",
               "--building", A)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"buildings: {A}" in done.stdout
    refused = cli(database_url, "token", "create", "--name", "gw", "--scope", "ingest",
                  "--building", "ghost")  # fmt: skip
    assert refused.returncode == 1
    assert "'ghost'" in refused.stderr
    listing = cli(database_url, "token", "list").stdout
    assert re.search(rf"\bgw\b.* {A}$", listing, re.MULTILINE), listing
    assert re.search(r"\broot\b.* \*$", listing, re.MULTILINE), listing


def test_deleting_a_building_narrows_a_token_never_widens_it(
    auth_client: TestClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    client = auth_client
    admin = bearer(issue_token(database_url, "root", "admin"))
    for b in (A, B):
        assert client.put(f"/v1/buildings/{b}", json={}, headers=admin).status_code == 201
    token = bearer(issue_token(database_url, "t", "read", buildings=[A]))
    db.execute("DELETE FROM building WHERE key = %s", (A,))  # as item 1's delete would
    assert _keys(client.get("/v1/buildings", headers=token)) == []
    assert client.get(f"/v1/buildings/{B}", headers=token).status_code == 404
