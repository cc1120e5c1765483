"""Live streams and tokens scoped to buildings: a token for hq streams hq (and hears of its
captures), while annex's streams answer 404 as for a building that does not exist."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2 as httpx
import psycopg
import pytest

from tests.conftest import NOW
from tests.factories import capture
from tests.live.support import replica, stream
from tests.system.ops.server import TOKEN_HASH_KEY, issue_token
from tests.threads import run_async

TS = NOW - timedelta(minutes=5)


def test_a_tenant_token_streams_its_building_only(
    db: psycopg.Connection[Any], database_url: str
) -> None:
    admin = {"Authorization": "Bearer " + issue_token(database_url, "root", "ingest", "admin")}
    auth = {"auth_required": True, "token_hash_key": TOKEN_HASH_KEY}

    async def go() -> None:
        async with replica(database_url, **auth) as a, httpx.AsyncClient() as http:
            for b in ("hq", "annex"):
                body = capture(20.0, building=b, room="r1", ts=TS)
                r = await http.post(a.url + "/v1/captures", json=body, headers=admin)
                assert r.status_code == 201, r.text
            token = issue_token(database_url, "hq-dash", "read", buildings=["hq"])
            mine = {"Authorization": f"Bearer {token}"}
            for path in ("/v1/buildings/annex/live", "/v1/buildings/annex/rooms/r1/live"):
                r = await http.get(a.url + path, headers=mine)
                assert r.status_code == 404, r.text
                assert r.json()["error"]["message"] == "building 'annex' does not exist"
            async with stream(http, a.url + "/v1/buildings/hq/live", headers=mine) as s:
                reset = await s.until("reset")
                assert [x["room"] for x in reset.data["averages"]] == ["r1"]
                body = capture(22.0, room="r1", ts=TS + timedelta(seconds=1))
                r = await http.post(a.url + "/v1/captures", json=body, headers=admin)
                assert r.status_code == 201
                event = await s.until("average", within=3)
                assert event.data["room"] == "r1"
                assert event.data["mean"] == pytest.approx(21.0 + 273.15, abs=1e-9)

    run_async(go())
