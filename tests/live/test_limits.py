"""Live streams' limits: an id older than the ring, a slow client, the cap, auth, parameters,
and a listener that loses its connection."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.conftest import NOW, ClientFactory
from tests.factories import capture
from tests.live.support import post, replica, stream
from tests.system.ops.server import TOKEN_HASH_KEY, issue_token
from tests.threads import run_async

TS = NOW - timedelta(minutes=5)


@pytest.fixture
def clean(db: psycopg.Connection[Any], database_url: str) -> str:
    return database_url


def test_a_resume_older_than_the_ring_gets_a_reset(clean: str) -> None:
    async def go() -> None:
        async with replica(clean, live_ring_events=2) as a, httpx.AsyncClient() as http:
            await post(http, a.url, capture(20.0, room="r1", ts=TS))
            async with stream(http, a.url + "/v1/buildings/hq/live") as s:
                await s.until("reset")
                await post(http, a.url, capture(21.0, room="r1", ts=TS + timedelta(seconds=1)))
                old = (await s.until("average")).id
                for n in range(3):  # three more notifies: the ring (2) no longer holds `old`
                    await post(http, a.url, capture(22.0, room="r2", ts=TS + timedelta(seconds=n)))
                    await s.until("average")
                newest = s.last_id
            assert old is not None
            assert newest is not None
            async with stream(http, a.url + "/v1/buildings/hq/live", {"last-event-id": old}) as s:
                reset = await s.next()
                assert reset.name == "reset"
                rooms = {x["room"]: x["count"] for x in reset.data["averages"]}
                assert rooms == {"r1": 2, "r2": 3}
                assert reset.id == newest  # resumable from the snapshot on
            # An id from the ring resumes instead (the newest: nothing missed, no event).
            async with stream(
                http, a.url + "/v1/buildings/hq/live", {"last-event-id": newest}
            ) as s:
                await post(http, a.url, capture(23.0, room="r1", ts=TS + timedelta(seconds=5)))
                first = await s.next()
                assert first.name == "average"
                assert first.data["count"] == 3

    run_async(go())


def test_a_slow_client_is_dropped_not_buffered(clean: str) -> None:
    async def go() -> None:
        async with replica(clean, live_queue_rounds=2, live_coalesce_ms=0) as a:
            async with httpx.AsyncClient() as http:
                await post(http, a.url, capture(20.0, room="r1", ts=TS))
            hub = a.app.state.roomtemp.live
            host, port = a.url.removeprefix("http://").split(":")
            # A client that reads nothing, with a tiny receive window.
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((host, int(port)))
            sock.sendall(b"GET /v1/buildings/hq/live?captures=true HTTP/1.1\r\nhost: x\r\n\r\n")
            deadline = time.monotonic() + 5
            while not hub.subscribers:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            async with httpx.AsyncClient() as http:
                t = TS
                for _ in range(200):
                    batch = []
                    for _ in range(100):
                        t += timedelta(milliseconds=10)
                        batch.append(capture(21.0, room="r1", ts=t))
                    assert (await post(http, a.url, batch)).status_code == 201
                    if not hub.subscribers:
                        break
            assert not hub.subscribers, "the slow client was never dropped"
            metrics = a.app.state.roomtemp.metrics
            assert metrics.live_streams_dropped.labels(reason="slow")._value.get() == 1
            # What it finally reads ends with the reason (after what it was sent before).
            sock.setblocking(False)
            received = b""
            deadline = time.monotonic() + 10
            while b"event: dropped" not in received and time.monotonic() < deadline:
                try:
                    chunk = sock.recv(1 << 20)
                except BlockingIOError:
                    await asyncio.sleep(0.01)
                    continue
                if not chunk:
                    break
                received += chunk
            sock.close()
            assert b"event: dropped" in received
            assert b"client too slow" in received

    run_async(go())


def test_the_stream_cap_answers_503_with_retry_after(clean: str) -> None:
    async def go() -> None:
        async with replica(clean, live_max_streams=1) as a, httpx.AsyncClient() as http:
            await post(http, a.url, capture(20.0, room="r1", ts=TS))
            async with stream(http, a.url + "/v1/buildings/hq/live") as s:
                await s.until("reset")
                r = await http.get(a.url + "/v1/buildings/hq/rooms/r1/live")
                assert r.status_code == 503
                assert r.headers["retry-after"] == "3"
                assert r.json()["error"]["code"] == "too_many_streams"
                scrape = (await http.get(a.url + "/metrics")).text
                assert "roomtemp_live_streams 1.0" in scrape
            # Closed by the client: the slot is free again.
            deadline = time.monotonic() + 5
            while a.app.state.roomtemp.live.subscribers:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            async with stream(http, a.url + "/v1/buildings/hq/rooms/r1/live") as s:
                await s.until("reset")

    run_async(go())


def test_streams_need_a_read_token(clean: str) -> None:
    reader = issue_token(clean, "dash", "read")
    writer = issue_token(clean, "gw", "ingest")

    async def go() -> None:
        async with (
            replica(clean, auth_required=True, token_hash_key=TOKEN_HASH_KEY) as a,
            httpx.AsyncClient() as http,
        ):
            ingest = {"authorization": f"Bearer {writer}"}
            body = capture(20.0, room="r1", ts=TS)
            r = await http.post(a.url + "/v1/captures", json=body, headers=ingest)
            assert r.status_code == 201
            url = a.url + "/v1/buildings/hq/live"
            assert (await http.get(url)).status_code == 401
            assert (await http.get(url, headers=ingest)).status_code == 403
            async with stream(http, url, {"authorization": f"Bearer {reader}"}) as s:
                assert (await s.until("reset")).data["averages"][0]["room"] == "r1"

    run_async(go())


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("?window=1h", 422, "window"),
        ("?sensor_type=nope", 422, "sensor_type"),
        ("?sensor_type=temperature&unit=percent", 422, "unit"),
        ("?unit=percent", 422, "unit"),
        ("?captures=maybe", 422, "captures"),
    ],
)
def test_parameters_are_checked(
    client_factory: ClientFactory, query: str, status: int, field: str
) -> None:
    client: TestClient = client_factory()
    assert client.post("/v1/captures", json=capture(20.0, room="r1")).status_code == 201
    r = client.get("/v1/buildings/hq/live" + query)
    assert r.status_code == status, r.text
    assert [d["field"] for d in r.json()["error"]["details"]] == [field]


def test_unknown_scopes_are_404(client_factory: ClientFactory) -> None:
    client: TestClient = client_factory()
    assert client.post("/v1/captures", json=capture(20.0, room="r1")).status_code == 201
    assert client.get("/v1/buildings/nope/live").status_code == 404
    r = client.get("/v1/buildings/hq/rooms/nope/live")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_live_disabled_is_refused(client_factory: ClientFactory) -> None:
    client: TestClient = client_factory(live_enabled=False)
    assert client.post("/v1/captures", json=capture(20.0, room="r1")).status_code == 201
    assert client.get("/v1/buildings/hq/live").status_code == 409


def test_a_lost_listener_ends_streams_refuses_new_ones_then_recovers(
    clean: str, conninfo: str
) -> None:
    async def go() -> None:
        async with replica(clean) as a, httpx.AsyncClient() as http:
            await post(http, a.url, capture(20.0, room="r1", ts=TS))
            hub = a.app.state.roomtemp.live
            async with stream(http, a.url + "/v1/buildings/hq/live") as s:
                resume = (await s.until("reset")).id
                with psycopg.connect(conninfo, autocommit=True) as admin:
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE query ILIKE 'LISTEN%' OR query = 'SELECT 1' "
                        "AND application_name = 'roomtemp'"
                    )
                ended = await s.next(within=10)
                assert ended.name == "unavailable"
                with pytest.raises(EOFError):
                    await s.next()
            # Until the listener is back: 503 live_unavailable (the page polls meanwhile).
            r = await http.get(a.url + "/v1/buildings/hq/live")
            if r.status_code == 503:
                assert r.json()["error"]["code"] == "live_unavailable"
                assert "retry-after" in r.headers
            deadline = time.monotonic() + 10
            while not hub.available:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            # A resume from before the outage cannot know what it missed: reset.
            headers = {"last-event-id": resume or "0"}
            async with stream(http, a.url + "/v1/buildings/hq/live", headers) as s:
                assert (await s.next()).name == "reset"
                await post(http, a.url, capture(21.0, room="r1", ts=TS + timedelta(seconds=1)))
                assert (await s.next()).data["count"] == 2

    run_async(go())
