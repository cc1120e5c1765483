"""Rollups stay exact: random captures with re-sends, updates and late data, checked against raw.

Each 15-minute bucket (end - 15m, end] and each 1-hour and 1-day piece [start, start + stride)
must hold the sum, count, min and max (and the piece columns) of the captures stored in it,
computed in Python from the expected final state; series served from rollups must equal series
computed from raw captures.
"""

from __future__ import annotations

import asyncio
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.capture import service as ingest
from roomtemp.capture.schemas import SensorCaptureIn
from tests.conftest import NOW, ClientFactory
from tests.factories import capture
from tests.pieces import assert_pieces, bucket_start, expected_pieces, stored_pieces

START = NOW - timedelta(hours=5)
_MIN = timedelta(minutes=1)
_POLICY = ingest.IngestPolicy(
    auto_register=True, max_batch_size=10_000, max_future_skew=timedelta(minutes=5)
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Stats = tuple[int, float, float, float]  # count, sum, min, max


def bucket_end(ts: datetime, stride: timedelta) -> datetime:
    us = (ts - EPOCH) // timedelta(microseconds=1)
    s = stride // timedelta(microseconds=1)
    return EPOCH + timedelta(microseconds=((us - 1) // s + 1) * s)


def expected(
    final: dict[tuple[str, datetime], float], stride: timedelta, *, by_start: bool = False
) -> dict[Any, Stats]:
    """By bucket end (15-minute rollups) or, `by_start`, by piece start (1 h, 1 d)."""
    key = bucket_start if by_start else bucket_end
    groups: dict[tuple[str, datetime], list[float]] = {}
    for (room, ts), v in final.items():
        groups.setdefault((room, key(ts, stride)), []).append(v)
    return {k: (len(v), sum(v), min(v), max(v)) for k, v in groups.items()}


def stored(db: psycopg.Connection[Any], table: str) -> dict[Any, Stats]:
    time = "bucket" if table == "capture_rollup_15m" else "start"
    rows = db.execute(
        f"SELECT r.key, x.{time}, x.count, x.sum, x.min, x.max FROM {table} x "
        "JOIN room r ON r.id = x.room_id"
    ).fetchall()
    return {(room, b): (n, s, lo, hi) for room, b, n, s, lo, hi in rows}


def assert_same(got: dict[Any, Stats], want: dict[Any, Stats]) -> None:
    assert got.keys() == want.keys()
    for k, (n, s, lo, hi) in want.items():
        assert got[k][0] == n, k
        assert got[k][1] == pytest.approx(s, rel=1e-12), k
        assert (got[k][2], got[k][3]) == (lo, hi), k


def kelvin(celsius: float) -> float:
    return celsius + 273.15


def test_rollups_match_raw_after_resends_updates_and_late_data(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    rng = random.Random(7)
    posts: list[dict[str, Any]] = []
    for room in ("a", "b", "c"):
        for _ in range(150):
            ts = START + timedelta(
                minutes=rng.randrange(300), seconds=rng.choice([0, 0, rng.randrange(60)])
            )
            posts.append(capture(round(rng.uniform(15, 28), 2), room=room, ts=ts))
    rng.shuffle(posts)  # late and out-of-order
    resends = rng.sample(posts, 60)
    # Updates that lower and raise values, so bucket minima and maxima move both ways.
    updates = [{**p, "value": p["value"] + rng.choice([-9.0, -0.5, 0.5, 9.0])} for p in posts[:80]]
    sequence = posts + resends + updates
    rng.shuffle(updates)
    sequence += updates[:20]
    final: dict[tuple[str, datetime], float] = {}
    i = 0
    while i < len(sequence):
        size = rng.choice([1, 1, 5, 40])
        chunk = sequence[i : i + size]
        body: Any = chunk[0] if size == 1 else chunk
        r = client.post("/v1/captures", json=body)
        assert r.status_code == 201, r.text
        for p in chunk:
            final[(p["room"], datetime.fromisoformat(p["ts"]))] = kelvin(p["value"])
        i += size

    raw = {
        (room, ts): v
        for room, ts, v in db.execute(
            "SELECT r.key, c.ts, c.value FROM capture c JOIN room r ON r.id = c.room_id"
        )
    }
    assert raw.keys() == final.keys()
    assert_same(stored(db, "capture_rollup_15m"), expected(final, timedelta(minutes=15)))
    assert_same(stored(db, "capture_rollup_1h"), expected(final, timedelta(hours=1), by_start=True))
    # The report pieces of the 1-hour and 1-day rollups, comfort counted for 20-24 °C.
    for stride, table in ((timedelta(hours=1), "capture_rollup_1h"),
                          (timedelta(days=1), "capture_rollup_1d")):  # fmt: skip
        want = expected_pieces(final, stride, kelvin(20.0), kelvin(24.0))
        assert_pieces(stored_pieces(db, table), want)


def test_captures_in_time_order_are_merged_into_the_rollups_exactly(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    """Sensors post in time order: new captures are merged into the stored pieces, not
    recomputed. Across hour and day edges, with tied extremes, tied longest gaps (the earlier
    one wins) and values on both sides of the comfort bounds; a late capture at the end."""
    rng = random.Random(11)
    midnight = NOW.replace(hour=0)
    steps = [5] * 6 + [20, 20, 5, 20, 7, 13, 30, 30, 5, 2, 45, 45, 1] + [5] * 30
    posts: list[dict[str, Any]] = []
    for room in ("a", "b", "c", "d"):
        ts = midnight - timedelta(hours=2, minutes=rng.randrange(4))
        for step in steps:
            value = rng.choice([19.0, 21.0, 21.0, 25.0, 25.0])
            posts.append(capture(value, room=room, ts=ts))
            ts += timedelta(minutes=step)
    posts.sort(key=lambda p: p["ts"])
    final: dict[tuple[str, datetime], float] = {}
    i = 0
    while i < len(posts):
        chunk = posts[i : i + rng.choice([1, 1, 2, 3, 7])]
        r = client.post("/v1/captures", json=chunk[0] if len(chunk) == 1 else chunk)
        assert r.status_code == 201, r.text
        assert r.json()["inserted"] == len(chunk)
        for p in chunk:
            final[(p["room"], datetime.fromisoformat(p["ts"]))] = kelvin(p["value"])
        i += len(chunk)

    def check() -> None:
        assert_same(stored(db, "capture_rollup_15m"), expected(final, timedelta(minutes=15)))
        for stride, table in ((timedelta(hours=1), "capture_rollup_1h"),
                              (timedelta(days=1), "capture_rollup_1d")):  # fmt: skip
            want = expected_pieces(final, stride, kelvin(20.0), kelvin(24.0))
            assert_pieces(stored_pieces(db, table), want)

    check()
    late = capture(18.0, room="a", ts=midnight - timedelta(minutes=31, seconds=1))
    assert client.post("/v1/captures", json=[late]).json()["inserted"] == 1
    final[("a", datetime.fromisoformat(late["ts"]))] = kelvin(18.0)
    check()


def test_update_of_the_minimum_or_maximum_recomputes_the_bucket(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    t = NOW - timedelta(minutes=14)
    for k, v in enumerate((10.0, 20.0, 30.0)):
        client.post("/v1/captures", json=capture(v, ts=t + timedelta(minutes=k)))
    [(n, s, lo, hi)] = stored(db, "capture_rollup_15m").values()
    assert (n, lo, hi) == (3, kelvin(10), kelvin(30))
    r = client.post("/v1/captures", json=capture(15.0, ts=t + timedelta(minutes=2)))  # max 30 → 15
    assert r.json()["updated"] == 1
    r = client.post("/v1/captures", json=capture(25.0, ts=t))  # min 10 → 25
    assert r.json()["updated"] == 1
    [(n, s, lo, hi)] = stored(db, "capture_rollup_15m").values()
    assert (n, lo, hi) == (3, kelvin(15), kelvin(25))
    assert s == pytest.approx(kelvin(25) + kelvin(20) + kelvin(15))
    [(n1, s1, lo1, hi1)] = stored(db, "capture_rollup_1h").values()
    assert (n1, s1, lo1, hi1) == (n, s, lo, hi)


def test_bucket_edges_follow_the_window_side(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    """A capture exactly on 12:00 belongs to (11:45, 12:00], one a microsecond later does not."""
    edge = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)
    client.post(
        "/v1/captures",
        json=[capture(20, ts=edge), capture(21, ts=edge + timedelta(microseconds=1))],
    )
    got = stored(db, "capture_rollup_15m")
    assert {b for _, b in got} == {edge, edge + timedelta(minutes=15)}


def test_pieces_are_left_closed_on_hour_and_day_edges(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    """A capture exactly on an hour or day edge starts the piece there ([start, start + 1h)),
    one a microsecond earlier ends the piece before: appended in order, late (earlier than a
    stored piece's last capture), updated in place (recomputed), and moved to another room by a
    sensor move exactly at midnight (captures_removed/changed)."""
    midnight = datetime(2026, 11, 22, tzinfo=UTC)
    hour, tick = timedelta(hours=1), timedelta(microseconds=1)
    r = client.post("/v1/sensors", json={"key": "edge", "sensor_type": "temperature",
                                         "building": "hq", "room": "e"})  # fmt: skip
    assert r.status_code == 201, r.text
    final: dict[tuple[str, datetime], float] = {}

    def post(value: float, ts: datetime) -> None:
        body = {"sensor": "edge", "value": value, "unit": "celsius", "ts": ts.isoformat()}
        r = client.post("/v1/captures", json=body)
        assert r.status_code == 201, r.text
        final[("e", ts)] = kelvin(value)

    def check() -> None:
        for stride, table in ((hour, "capture_rollup_1h"), (24 * hour, "capture_rollup_1d")):
            want = expected_pieces(final, stride, kelvin(20.0), kelvin(24.0))
            assert_pieces(stored_pieces(db, table), want)
        assert_same(stored(db, "capture_rollup_15m"), expected(final, timedelta(minutes=15)))

    # In time order, across midnight: each appended to its piece.
    for value, ts in ((19.0, midnight - hour - tick), (21.0, midnight - hour),
                      (25.0, midnight - tick), (22.0, midnight), (23.0, midnight + tick),
                      (26.0, midnight + hour)):  # fmt: skip
        post(value, ts)
    check()
    assert {t for (_, t) in stored_pieces(db, "capture_rollup_1d")} == {
        midnight - 24 * hour,
        midnight,
    }
    hours = stored_pieces(db, "capture_rollup_1h")
    assert hours[("e", midnight)]["count"] == 2  # 00:00 and 00:00:00.000001
    assert hours[("e", midnight - hour)]["first_ts"] == midnight - hour
    # Late: exactly on the edge of a piece already holding later captures, and just before one.
    post(18.0, midnight - 2 * hour)
    post(24.5, midnight - 2 * hour + tick)
    post(20.5, midnight + hour - tick)
    check()
    # An update of the capture on the day edge moves that day's extremes: recomputed.
    post(30.0, midnight)
    check()
    # Moved to room f exactly at midnight: captures from midnight on are f's.
    r = client.post(
        "/v1/sensors/edge/moves",
        json={"building": "hq", "room": "f", "from": midnight.isoformat()},
    )
    assert r.status_code in (200, 201), r.text
    final = {("f" if ts >= midnight else room, ts): v for (room, ts), v in final.items()}
    check()
    assert {t for (room, t) in stored_pieces(db, "capture_rollup_1d") if room == "f"} == {midnight}


def test_keys_named_by_quarter_hour_ends_reach_the_piece_before(
    database_url: str, client: TestClient, db: psycopg.Connection[Any]
) -> None:
    """Staged ingest and sensor deletes name the 15-minute buckets they touched by their END:
    12:00 stands for (11:45, 12:00], whose captures before 12:00 are in the 1-hour piece
    [11:00, 12:00). That piece is recomputed (or dropped when left empty) too."""
    hour = timedelta(hours=1)
    noon = NOW.replace(hour=10)
    r = client.post("/v1/sensors", json={"key": "q", "sensor_type": "temperature",
                                         "building": "hq", "room": "q"})  # fmt: skip
    assert r.status_code == 201, r.text
    body = {"sensor": "q", "value": 20.0, "unit": "celsius", "ts": (noon - 10 * _MIN).isoformat()}
    assert client.post("/v1/captures", json=body).status_code == 201
    final = {("q", noon - 10 * _MIN): kelvin(20.0)}

    async def staged() -> None:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as conn:
                late = SensorCaptureIn.model_validate({**body, "value": 23.0,
                                                 "ts": (noon - 5 * _MIN).isoformat()})  # fmt: skip
                await ingest.ingest(
                    conn, ingest.ParsedBatch([late]), policy=_POLICY, now=NOW,
                    storage=ingest.Storage.COPY,
                )  # fmt: skip
        finally:
            await engine.dispose()

    asyncio.run(staged())
    final[("q", noon - 5 * _MIN)] = kelvin(23.0)
    for stride, table in ((hour, "capture_rollup_1h"), (24 * hour, "capture_rollup_1d")):
        want = expected_pieces(final, stride, kelvin(20.0), kelvin(24.0))
        assert_pieces(stored_pieces(db, table), want)
    assert stored_pieces(db, "capture_rollup_1h")[("q", noon - hour)]["count"] == 2
    r = client.delete("/v1/sensors/q", params={"captures": "delete"})
    assert r.status_code == 200, r.text
    for table in ("capture_rollup_15m", "capture_rollup_1h", "capture_rollup_1d"):
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table


def test_series_from_rollups_equal_series_from_raw(
    client_factory: ClientFactory, db: psycopg.Connection[Any]
) -> None:
    rng = random.Random(11)
    with_rollups = client_factory()
    raw_only = client_factory(rollup_reads=False)
    items = [
        capture(
            round(rng.uniform(18, 24), 3),
            room=rng.choice(["x", "y"]),
            ts=START + timedelta(seconds=rng.randrange(5 * 3600)),
        )
        for _ in range(600)
    ]
    for i in range(0, len(items), 100):
        assert with_rollups.post("/v1/captures", json=items[i : i + 100]).status_code == 201
    for room in ("x", "y"):
        for step, window in (("15m", "15m"), ("1h", "1h"), ("1h", "15m"), ("30m", "1h")):
            params = {"from": START.isoformat(), "to": NOW.isoformat(),
                      "step": step, "window": window}  # fmt: skip
            url = f"/v1/buildings/hq/rooms/{room}/averages"
            a = with_rollups.get(url, params=params).json()["points"]
            b = raw_only.get(url, params=params).json()["points"]
            assert len(a) == len(b) > 0
            for p, q in zip(a, b, strict=True):
                assert (p["t"], p["count"], p["min"], p["max"]) == (
                    q["t"], q["count"], q["min"], q["max"]
                )  # fmt: skip
                assert p["mean"] == pytest.approx(q["mean"], abs=1e-9)


def test_concurrent_single_posts_are_batched_and_each_answered(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    """Many single POSTs at once: each gets its own answer, as if posted alone."""
    t = NOW - timedelta(minutes=30)
    bodies = [capture(20 + k % 7, room=f"r{k % 5}", ts=t + timedelta(seconds=k)) for k in range(60)]
    bodies += [
        capture(20 + k % 7, room=f"r{k % 5}", ts=t + timedelta(seconds=k)) for k in range(10)
    ]
    bodies += [capture(99, room=f"r{k % 5}", ts=t + timedelta(seconds=k)) for k in range(10, 15)]
    bad = [capture(20, unit="parsec"), capture(20, ts=NOW + timedelta(hours=1))]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda b: client.post("/v1/captures", json=b), bodies + bad))
    ok = [a.json() for a in answers[: len(bodies)]]
    assert all(a.status_code == 201 for a in answers[: len(bodies)])
    assert [a.status_code for a in answers[len(bodies) :]] == [422, 422]
    assert sum(a["inserted"] for a in ok) == 60
    # The 10 re-sends are duplicates of whichever came first; the 5 changed values are updates,
    # unless they arrived first (then the original counts as the update).
    assert sum(a["duplicates"] + a["updated"] for a in ok) == 15
    assert db.execute("SELECT count(*) FROM capture").fetchone() == (60,)
    n = db.execute("SELECT sum(count) FROM capture_rollup_15m").fetchone()
    assert n == (60,)


def test_concurrent_batches_with_the_same_captures_count_each_capture_once(
    client: TestClient, db: psycopg.Connection[Any]
) -> None:
    """Gateways retry: the same batch arrives several times at once, each in its own
    transaction. Every capture is counted once, in the answers and in the rollups, and the
    rollups hold exactly what the raw captures hold."""
    t = NOW - timedelta(hours=2)
    final: dict[tuple[str, datetime], float] = {}
    answers = []
    with ThreadPoolExecutor(8) as pool:
        for k in range(12):
            ts = t + timedelta(minutes=k)
            batch = [capture(20 + (k + j) % 5, room=f"s{j}", ts=ts) for j in range(3)]
            for b in batch:
                final[(b["room"], datetime.fromisoformat(b["ts"]))] = kelvin(b["value"])
            sends = [pool.submit(client.post, "/v1/captures", json=batch) for _ in range(6)]
            answers += [f.result() for f in sends]
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    assert sum(a.json()["inserted"] for a in answers) == len(final)
    assert sum(a.json()["duplicates"] for a in answers) == 5 * len(final)
    assert_same(stored(db, "capture_rollup_15m"), expected(final, timedelta(minutes=15)))
    for stride, table in ((timedelta(hours=1), "capture_rollup_1h"),
                          (timedelta(days=1), "capture_rollup_1d")):  # fmt: skip
        want = expected_pieces(final, stride, kelvin(20.0), kelvin(24.0))
        assert_pieces(stored_pieces(db, table), want)
