"""The evaluator against the independent reference, on real PostgreSQL: thresholds above and below
in three units, for_seconds, hysteresis and clear_after, silence (a room falling silent, a room
never captured), a schedule across both 2026 DST changes in Europe/Zurich, and late captures;
repeated instants, two evaluators at once, and the mean the API serves."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from roomtemp.alerts.evaluator import Round, evaluate_once, instant
from roomtemp.average import queries as average
from tests.alerts import support
from tests.threads import run_async

SPRING = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # 02:00 CET -> 03:00 CEST at 01:00 UTC
AUTUMN = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # 03:00 CEST -> 02:00 CET at 01:00 UTC


async def _drive(
    url: str, db: psycopg.Connection[Any], world: support.World, evaluators: int = 1
) -> list[Round]:
    engines = [create_async_engine(url) for _ in range(evaluators)]
    rounds: list[Round] = []
    try:
        await support.put_rules(engines[0], world.start)
        for at in world.instants:
            world.feed(db, at)
            world.reference.evaluate(at)
            rounds.extend(await asyncio.gather(*(evaluate_once(e, at, "UTC") for e in engines)))
    finally:
        for e in engines:
            await e.dispose()
    return rounds


@pytest.mark.parametrize("start", [SPRING, AUTUMN], ids=["spring", "autumn"])
def test_transitions_equal_the_reference(
    database_url: str, db: psycopg.Connection[Any], start: datetime
) -> None:
    world = support.build(db, start, minutes=180, seed=int(start.timestamp()))
    rounds = run_async(_drive(database_url, db, world))
    assert all(r.done for r in rounds)
    expected = world.reference.transitions
    support.assert_same(support.stored_transitions(db), expected)
    # The world exercises what it claims to: every rule but the disabled one moves, silences
    # fire, hysteresis and clear_after resolve, a pending alert resolves without firing, and the
    # schedule opens and closes alerts at local times that DST moves.
    moved = {(t.rule, t.to_state) for t in expected}
    for rule in ("hot", "cold", "hot-sched", "silent", "hot-k"):
        assert (rule, "firing") in moved, rule
        assert (rule, "resolved") in moved, rule
    assert any(t.from_state == "pending" and t.to_state == "resolved" for t in expected)
    assert {t.room for t in expected if t.rule == "silent"} >= {"r3", "r4"}
    sched = [t.at for t in expected if t.rule == "hot-sched"]
    window = (start + timedelta(hours=1), start + timedelta(hours=1, minutes=30))
    if start == AUTUMN:  # 02:30-03:30 local is 00:30-02:30 UTC that day (03:00 happens twice)
        window = (start + timedelta(minutes=30), start + timedelta(hours=2, minutes=30))
    assert all(window[0] <= at <= window[1] for at in sched), sched


def test_outbox_one_row_per_delivered_transition_and_receiver(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    world = support.build(db, SPRING, minutes=120, seed=7)
    run_async(_drive(database_url, db, world))
    receivers = {"hot": 1, "cold": 2, "hot-sched": 1, "silent": 1, "hot-k": 0}
    delivered = [
        t for t in world.reference.transitions if t.to_state == "firing" or t.from_state == "firing"
    ]
    assert sum(receivers[t.rule] for t in delivered) > 0
    stored = db.execute(
        "SELECT ru.name, t.from_state, t.to_state, o.idempotency_key, "
        "t.id || '-' || o.receiver_id FROM alert_outbox o "
        "JOIN alert_transition t ON t.id = o.transition_id JOIN alert a ON a.id = t.alert_id "
        "JOIN alert_rule ru ON ru.id = a.rule_id"
    ).fetchall()
    assert len(stored) == sum(receivers[t.rule] for t in delivered)
    assert all(key == own for *_, key, own in stored)
    assert not [s for s in stored if "firing" not in (s[1], s[2])]


def test_an_instant_is_evaluated_once(database_url: str, db: psycopg.Connection[Any]) -> None:
    world = support.build(db, SPRING, minutes=30, seed=3)
    run_async(_drive(database_url, db, world))
    before = support.stored_transitions(db)

    async def again() -> list[Round]:
        engine = create_async_engine(database_url)
        try:
            return [await evaluate_once(engine, at, "UTC") for at in world.instants[-3:]]
        finally:
            await engine.dispose()

    assert [r.done for r in run_async(again())] == [False, False, False]
    assert support.stored_transitions(db) == before
    count = db.execute("SELECT count(*) FROM alert_evaluation").fetchone()
    assert count == (30,)


def test_two_evaluators_at_once_never_double(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    world = support.build(db, AUTUMN, minutes=90, seed=11)
    rounds = run_async(_drive(database_url, db, world, evaluators=2))
    # Each instant is evaluated by exactly one of the two; the other skipped it.
    assert [r.at for r in rounds if r.done] == world.instants
    support.assert_same(support.stored_transitions(db), world.reference.transitions)


def test_the_mean_is_the_one_the_api_serves(database_url: str, db: psycopg.Connection[Any]) -> None:
    world = support.build(db, SPRING, minutes=60, seed=5, late=False)
    run_async(_drive(database_url, db, world))
    last = world.instants[-1]
    rows = db.execute(
        "SELECT a.room_id, ru.window_seconds, a.value FROM alert a "
        "JOIN alert_rule ru ON ru.id = a.rule_id "
        "WHERE ru.kind <> 'silent' AND a.updated_at = %s AND a.value IS NOT NULL",
        (last,),
    ).fetchall()
    assert rows

    async def api_means() -> list[float | None]:
        engine: AsyncEngine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                return [
                    (
                        await average.select_window_stats(
                            conn, room_id, 1, last - timedelta(seconds=window), last
                        )
                    ).mean
                    for room_id, window, _ in rows
                ]
        finally:
            await engine.dispose()

    assert run_async(api_means()) == pytest.approx([v for *_, v in rows], abs=1e-9)


def test_instants_are_multiples_of_the_period() -> None:
    at = datetime(2026, 3, 29, 1, 2, 59, 999999, tzinfo=UTC)
    assert instant(at, 60) == datetime(2026, 3, 29, 1, 2, tzinfo=UTC)
    assert instant(at, 300) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_disabled_rule_resolves_its_alerts_and_silence_holds_back_deliveries(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    world = support.build(db, SPRING, minutes=60, seed=13, late=False)
    world.instants = world.instants[:40]  # r3 silent since minute 24 and r4 never heard from
    run_async(_drive(database_url, db, world))
    name = "silent"
    found = db.execute(
        "SELECT count(*) FROM alert a JOIN alert_rule ru ON ru.id = a.rule_id "
        "WHERE a.state = 'firing' AND ru.name = %s",
        (name,),
    ).fetchone()
    assert found is not None
    firing = found[0]
    assert firing >= 2  # one silenced, the others not
    # One of them silenced: its resolution is recorded and queued like the others (the sender
    # holds it until the silence ends: tests/alerts/test_delivery.py), so it is never lost.
    db.execute(
        "UPDATE alert SET silenced_until = %s WHERE id = (SELECT min(a.id) FROM alert a "
        "JOIN alert_rule ru ON ru.id = a.rule_id WHERE ru.name = %s AND a.state = 'firing')",
        (world.instants[-1] + timedelta(hours=1), name),
    )
    db.execute("UPDATE alert_rule SET enabled = false WHERE name = %s", (name,))
    at = world.instants[-1] + support.STEP

    async def once() -> Round:
        engine = create_async_engine(database_url)
        try:
            return await evaluate_once(engine, at, "UTC")
        finally:
            await engine.dispose()

    assert run_async(once()).done
    resolved = db.execute(
        "SELECT t.reason, t.from_state, a.silenced_until IS NOT NULL, "
        "(SELECT count(*) FROM alert_outbox o WHERE o.transition_id = t.id) "
        "FROM alert_transition t JOIN alert a ON a.id = t.alert_id "
        "JOIN alert_rule ru ON ru.id = a.rule_id WHERE ru.name = %s AND t.at = %s",
        (name, at),
    ).fetchall()
    firing_rows = [r for r in resolved if r[1] == "firing"]
    assert len(firing_rows) == firing
    assert {r[0] for r in resolved} == {"rule"}
    receivers = {"hot": 1, "cold": 2, "hot-sched": 1, "silent": 1, "hot-k": 0}[name]
    assert [r[3] for r in firing_rows] == [receivers] * len(firing_rows)
    assert any(silenced for _, _, silenced, _ in firing_rows)
    still_open = db.execute(
        "SELECT count(*) FROM alert a JOIN alert_rule ru ON ru.id = a.rule_id "
        "WHERE ru.name = %s AND a.state <> 'resolved'",
        (name,),
    ).fetchone()
    assert still_open == (0,)
