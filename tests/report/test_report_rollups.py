"""Reports from rollup pieces equal reports from raw captures and the Python reference.

Random captures posted through the API (re-sends, last-write-wins updates, late and out-of-order
sends, gaps longer than an hour and a day, ties on minima and maxima, values exactly on the
comfort bounds), then reports over periods aligned and not aligned to buckets, each computed
both ways by the service and checked against tests.pieces.reference.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.partitions import service as partitions
from roomtemp.report import queries, service
from roomtemp.rollup import service as rollups
from tests.factories import capture
from tests.pieces import assert_pieces, expected_pieces, reference, stored_pieces

T0 = datetime(2026, 11, 10, tzinfo=UTC)
COMFORT = (20.0, 24.0)
Series = dict[str, dict[datetime, float]]


def _post_random(client: TestClient, rng: random.Random) -> Series:
    """Post a random history; returns the final value of every capture (celsius)."""
    posts: list[dict[str, Any]] = []
    for room in ("a", "b", "c", "d"):
        t = T0 + timedelta(seconds=rng.randrange(3600))
        while t < datetime(2026, 11, 22, 11, tzinfo=UTC):
            posts.append(capture(rng.randrange(34, 55) / 2, building="site", room=room, ts=t))
            dice = rng.random()
            step = (
                30 * 3600
                if dice < 0.01
                else 3 * 3600
                if dice < 0.03
                else rng.choice([60, 300, 1020])
            )
            t += timedelta(seconds=step, microseconds=rng.choice([0, 0, rng.randrange(10**6)]))
    posts.append(capture(21.0, building="site", room="carry", ts=T0 - timedelta(days=2)))
    posts.append(
        capture(30.0, building="site", room="later", ts=datetime(2026, 11, 22, tzinfo=UTC))
    )
    rng.shuffle(posts)  # late and out of order
    sequence = posts + rng.sample(posts, len(posts) // 10)  # re-sends
    sequence += [{**p, "value": rng.randrange(34, 55) / 2} for p in rng.sample(posts, 300)]
    final: Series = {}
    i = 0
    while i < len(sequence):
        chunk = sequence[i : i + rng.choice([1, 50, 700])]
        r = client.post("/v1/captures", json=chunk)
        assert r.status_code == 201, r.text
        for p in chunk:
            final.setdefault(p["room"], {})[datetime.fromisoformat(p["ts"])] = p["value"]
        i += len(chunk)
    return final


def _periods(final: Series) -> list[tuple[datetime, datetime]]:
    a = sorted(final["a"])
    day, hour = timedelta(days=1), timedelta(hours=1)
    return [
        (T0 + 2 * day, T0 + 10 * day),  # whole days
        (
            T0 + day + timedelta(hours=3, minutes=17, seconds=12.345678),
            T0 + 9 * day + timedelta(hours=22, minutes=40, seconds=1),
        ),
        (T0 + 4 * day + 5 * hour, T0 + 4 * day + 9 * hour),  # whole hours
        (
            T0 + 4 * day + timedelta(hours=5, minutes=10),
            T0 + 4 * day + timedelta(hours=5, minutes=50),
        ),
        (T0 + 3 * day + timedelta(hours=23, minutes=30), T0 + 5 * day + timedelta(minutes=30)),
        (T0 + 3 * day + 23 * hour, T0 + 4 * day + 2 * hour),  # hours across midnight, no day
        (a[40], a[-40]),  # starts and ends exactly on captures
        (T0 - 3 * day, T0 + 12 * day + 11 * hour),  # everything, from before the first capture
    ]


def _reports(
    url: str, periods: list[tuple[datetime, datetime]], use_rollups: bool, unit: str = "celsius"
) -> list[service.BuildingReport]:
    async def go() -> list[service.BuildingReport]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return [
                    await service.building_report(
                        conn,
                        "site",
                        sensor_type="temperature",
                        start=s,
                        end=e,
                        unit=unit,
                        comfort_low=None,
                        comfort_high=None,
                        default_comfort_celsius=COMFORT,
                        use_rollups=use_rollups,
                    )
                    for s, e in periods
                ]
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _close(a: Any, b: Any, tol: float) -> bool:
    if isinstance(b, float) and isinstance(a, float):
        return abs(a - b) <= tol * max(1.0, abs(b))
    return bool(a == b)


def test_rollup_report_equals_raw_report_and_reference(
    client: TestClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    final = _post_random(client, random.Random(3))
    periods = _periods(final)
    from_rollups = _reports(database_url, periods, use_rollups=True)
    from_raw = _reports(database_url, periods, use_rollups=False)
    for (start, end), fast, slow in zip(periods, from_rollups, from_raw, strict=True):
        assert [r.room for r in fast.rooms] == ["a", "b", "c", "carry", "d", "later"]
        for got, raw in zip(fast.rooms, slow.rooms, strict=True):
            exp = reference(sorted(final[got.room].items()), start, end, *COMFORT)
            row, raw_row = asdict(got), asdict(raw)
            for key, want in exp.items():
                where = (start, end, got.room, key)
                assert _close(row[key], raw_row[key], 1e-9), (*where, row[key], raw_row[key])
                assert _close(row[key], want, 1e-9), (*where, row[key], want)
    # Both answers are not one code path: without the day rollups the rollup path changes.
    db.execute("DELETE FROM capture_rollup_1d")
    broken = _reports(database_url, periods[:1], use_rollups=True)[0]
    assert [r.count for r in broken.rooms] != [r.count for r in from_rollups[0].rooms]


def test_other_comfort_bounds_are_exact_and_set_comfort_recomputes(
    client: TestClient, database_url: str, db: psycopg.Connection[Any]
) -> None:
    """Rollups count comfort seconds for the sensor type's stored bounds only: other bounds
    read raw captures; new stored bounds are recomputed in the same transaction."""
    final = _post_random(client, random.Random(5))
    periods = _periods(final)[:2]
    other = (19.0, 22.5)

    def check(reports: list[service.BuildingReport], low: float, high: float) -> None:
        for (start, end), rep in zip(periods, reports, strict=True):
            for got in rep.rooms:
                exp = reference(sorted(final[got.room].items()), start, end, low, high)
                for key in ("share_below", "share_above", "time_weighted_mean"):
                    assert _close(asdict(got)[key], exp[key], 1e-9), (got.room, key)

    async def set_bounds(low: float, high: float) -> bool:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as conn:
                return await rollups.set_comfort(conn, 1, low=low + 273.15, high=high + 273.15)
        finally:
            await engine.dispose()

    async def reports(low: float, high: float) -> list[service.BuildingReport]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                return [
                    await service.building_report(
                        conn,
                        "site",
                        sensor_type="temperature",
                        start=s,
                        end=e,
                        unit="celsius",
                        comfort_low=None,
                        comfort_high=None,
                        default_comfort_celsius=(low, high),
                    )
                    for s, e in periods
                ]
        finally:
            await engine.dispose()

    async def rollup_rows(low: float, high: float) -> list[queries.RoomPeriodRow] | None:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                start, end = periods[0]
                return await queries.select_room_periods(
                    conn,
                    queries.PeriodQuery(1, 1, [start, end], low + 273.15, high + 273.15),
                    rollups=True,
                    with_shares=True,
                )
        finally:
            await engine.dispose()

    # The rollup statement itself refuses bounds the rollups were not counted for (it checks
    # them in its own snapshot), and answers for the stored ones.
    assert asyncio.run(rollup_rows(*other)) is None
    assert asyncio.run(rollup_rows(*COMFORT))
    # Defaults that differ from the stored bounds (a changed COMFORT_*_CELSIUS): raw, exact.
    check(asyncio.run(reports(*other)), *other)
    try:
        assert asyncio.run(set_bounds(*other)) is True
        assert asyncio.run(set_bounds(*other)) is False  # unchanged: nothing recomputed
        stored = db.execute("SELECT comfort_low, comfort_high FROM sensor_type WHERE id = 1")
        assert stored.fetchone() == (other[0] + 273.15, other[1] + 273.15)
        check(asyncio.run(reports(*other)), *other)  # now from the recomputed rollups
        # ... which really are read: the day pieces' comfort seconds decide the shares.
        db.execute("UPDATE capture_rollup_1d SET below_seconds = 0")
        changed = asyncio.run(reports(*other))[0]
        with pytest.raises(AssertionError):
            check([changed, *asyncio.run(reports(*other))[1:]], *other)
        check(asyncio.run(reports(*COMFORT)), *COMFORT)  # the former bounds: raw again
    finally:
        asyncio.run(set_bounds(*COMFORT))


def test_maintain_stores_changed_default_bounds(
    client: TestClient, database_url: str, clean_partitions: psycopg.Connection[Any]
) -> None:
    """`roomtemp maintain` gives temperature types the configured default bounds (recomputing
    their rollups), so reports with changed COMFORT_*_CELSIUS read rollups again."""
    db = clean_partitions
    final = _post_random(client, random.Random(9))
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)

    def maintain(bounds: tuple[float, float]) -> partitions.MaintainReport:
        async def go() -> partitions.MaintainReport:
            engine = create_async_engine(database_url)
            try:
                async with engine.begin() as conn:
                    return await partitions.maintain(
                        conn,
                        now,
                        interval="month",
                        ahead=0,
                        retention_days=None,
                        comfort_celsius=bounds,
                    )
            finally:
                await engine.dispose()

        return asyncio.run(go())

    other = (19.0, 22.5)
    try:
        report = maintain(other)
        assert report.comfort_recomputed == ["temperature"]
        assert "comfort bounds of 'temperature' set to the defaults" in "\n".join(report.lines())
        assert maintain(other).comfort_recomputed == []
        stored = db.execute("SELECT comfort_low, comfort_high FROM sensor_type WHERE id = 1")
        assert stored.fetchone() == (other[0] + 273.15, other[1] + 273.15)
        low, high = (b + 273.15 for b in other)
        for stride, table in ((timedelta(hours=1), "capture_rollup_1h"),
                              (timedelta(days=1), "capture_rollup_1d")):  # fmt: skip
            want = expected_pieces(
                {(room, t): v + 273.15 for room, s in final.items() for t, v in s.items()},
                stride, low, high,
            )  # fmt: skip
            assert_pieces(stored_pieces(db, table), want)
    finally:
        assert maintain(COMFORT).comfort_recomputed == ["temperature"]


def test_reports_with_captures_exactly_on_hour_and_day_edges(
    client: TestClient, database_url: str
) -> None:
    """Captures on hour and day edges (and a microsecond either side), posted late and out of
    order, and periods that start or end exactly on them: a capture at an edge belongs to the
    piece starting there, so a period [edge, ...) counts it and [..., edge) does not."""
    rng = random.Random(16)
    hour, day, tick = timedelta(hours=1), timedelta(days=1), timedelta(microseconds=1)
    edges = [T0 + k * hour for k in range(0, 4 * 24, 5)] + [T0 + k * day for k in range(5)]
    stamps = sorted({e + d for e in edges for d in (-tick, timedelta(0), tick)} | {T0 - day})
    posts = [capture(rng.randrange(34, 55) / 2, building="site", room="e", ts=t) for t in stamps]
    rng.shuffle(posts)
    for k in range(0, len(posts), 7):
        assert client.post("/v1/captures", json=posts[k : k + 7]).status_code == 201
    final = {datetime.fromisoformat(p["ts"]): p["value"] for p in posts}
    periods = [
        (T0 + day, T0 + 3 * day),  # whole days, a capture on each edge
        (T0 + day + tick, T0 + 3 * day - tick),
        (T0 + day - tick, T0 + 3 * day + tick),
        (T0 + 5 * hour, T0 + 10 * hour),  # whole hours on captures
        (T0 + 5 * hour + tick, T0 + 2 * day + 10 * hour),
        (T0 + 20 * hour, T0 + day + 5 * hour),  # hours across midnight
        (T0, T0 + 4 * day),
    ]
    fast = _reports(database_url, periods, use_rollups=True)
    slow = _reports(database_url, periods, use_rollups=False)
    for (start, end), a, b in zip(periods, fast, slow, strict=True):
        [got], [raw] = a.rooms, b.rooms
        exp = reference(sorted(final.items()), start, end, *COMFORT)
        assert exp["count"] == sum(1 for t in final if start <= t < end)
        for key, want in exp.items():
            assert _close(asdict(got)[key], asdict(raw)[key], 1e-9), (start, end, key)
            assert _close(asdict(got)[key], want, 1e-9), (start, end, key, asdict(got)[key], want)
