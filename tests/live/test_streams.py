"""Live streams end to end: real uvicorn replicas on one PostgreSQL, real HTTP streams."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import psycopg
import pytest

from tests.conftest import NOW
from tests.factories import capture
from tests.live.support import post, replica, stream
from tests.threads import run_async

TS = NOW - timedelta(minutes=5)


@pytest.fixture
def clean(db: psycopg.Connection[Any], database_url: str) -> str:
    return database_url


def test_a_capture_posted_to_one_replica_reaches_a_stream_on_the_other(clean: str) -> None:
    async def go() -> None:
        async with replica(clean) as a, replica(clean) as b, httpx.AsyncClient() as http:
            assert (await post(http, a.url, capture(20.0, room="r1", ts=TS))).status_code == 201
            async with stream(http, b.url + "/v1/buildings/hq/live") as s:
                reset = await s.until("reset")
                (r1,) = reset.data["averages"]
                assert (r1["room"], r1["count"], r1["mean"]) == ("r1", 1, pytest.approx(293.15))
                assert reset.id is not None  # the notify of the first POST: resumable
                latencies = []
                for n, value in enumerate((22.0, 24.0, 26.0)):
                    body = capture(value, room="r1", ts=TS + timedelta(seconds=n + 1))
                    sent = time.monotonic()
                    assert (await post(http, a.url, body)).status_code == 201
                    event = await s.until("average", within=3)
                    latencies.append(event.at - sent)
                    assert event.data["room"] == "r1"
                    assert event.data["count"] == n + 2
                    values = [20.0, 22.0, 24.0, 26.0][: n + 2]
                    mean_c = sum(values) / len(values)
                    assert event.data["mean"] == pytest.approx(mean_c + 273.15, abs=1e-9)
                    assert event.data["unit"] == "kelvin"
                    assert int(event.id or 0) > int(reset.id)
                assert max(latencies) < 1.0, latencies

    run_async(go())


def test_room_stream_in_a_unit_with_captures(clean: str) -> None:
    async def go() -> None:
        async with replica(clean) as a, httpx.AsyncClient() as http:
            await post(http, a.url, [capture(20.0, room="r1", ts=TS), capture(1, room="r2", ts=TS)])
            url = a.url + "/v1/buildings/hq/rooms/r1/live?unit=celsius&captures=true"
            async with stream(http, url) as s:
                reset = await s.until("reset")
                assert [x["room"] for x in reset.data["averages"]] == ["r1"]
                assert reset.data["averages"][0]["mean"] == pytest.approx(20.0)
                # r2 is not this stream's room: nothing from it arrives.
                await post(http, a.url, capture(5.0, room="r2", ts=TS + timedelta(seconds=1)))
                await post(http, a.url, capture(21.0, room="r1", ts=TS + timedelta(seconds=2)))
                got = await s.next()
                assert got.name == "capture"
                assert got.data == {
                    "building": "hq",
                    "room": "r1",
                    "sensor": "hq/r1/temperature",
                    "sensor_type": "temperature",
                    "unit": "celsius",
                    "ts": (TS + timedelta(seconds=2)).isoformat().replace("+00:00", "Z"),
                    "value": pytest.approx(21.0),
                }
                assert got.id is None  # only a chunk's last event carries the id
                avg = await s.next()
                assert avg.name == "average"
                assert (avg.data["room"], avg.data["count"]) == ("r1", 2)
                assert avg.data["mean"] == pytest.approx(20.5)
                assert avg.id is not None

    run_async(go())


def test_resume_in_the_ring_has_no_gap_and_no_repeat(clean: str, conninfo: str) -> None:
    async def go() -> None:
        async with replica(clean) as a, replica(clean) as b, httpx.AsyncClient() as http:
            await post(http, a.url, capture(20.0, room="r1", ts=TS))
            url = "/v1/buildings/hq/live?captures=true"
            async with stream(http, a.url + url) as s:
                await s.until("reset")
                await post(http, a.url, capture(21.0, room="r1", ts=TS + timedelta(seconds=1)))
                await s.until("average")
                resume_from = s.last_id
            assert resume_from is not None
            # Missed while away: two captures in two transactions.
            for n, v in enumerate((22.0, 23.0)):
                body = capture(v, room="r1", ts=TS + timedelta(seconds=2 + n))
                assert (await post(http, a.url, body)).status_code == 201
            await _settle(b, conninfo)
            # Back on the OTHER replica: event ids are global.
            async with stream(http, b.url + url, {"last-event-id": resume_from}) as s:
                captures = [await s.next(), await s.next()]
                assert [c.name for c in captures] == ["capture", "capture"]
                assert [c.data["value"] for c in captures] == [
                    pytest.approx(295.15),
                    pytest.approx(296.15),
                ]
                avg = await s.next()
                assert avg.name == "average"
                assert avg.data["count"] == 4
                assert int(avg.id or 0) > int(resume_from)
                # Live from there on, nothing repeated.
                await post(http, a.url, capture(24.0, room="r1", ts=TS + timedelta(seconds=9)))
                nxt = await s.next()
                assert nxt.name == "capture"
                assert nxt.data["value"] == pytest.approx(297.15)

    run_async(go())


async def _settle(r: Any, conninfo: str, within: float = 3.0) -> None:
    """Until the replica's hub has heard the last notify sent (a resume reads its ring)."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT last_value FROM live_event_seq").fetchone()
    assert row is not None
    hub = r.app.state.roomtemp.live
    deadline = time.monotonic() + within
    while not (hub._ring and hub._ring[-1].ann.seq == row[0]):
        assert time.monotonic() < deadline, "the notify did not arrive"
        await asyncio.sleep(0.02)
