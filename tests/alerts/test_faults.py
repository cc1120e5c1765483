"""An evaluator killed (SIGKILL) in the middle of a round, holding the evaluation lock with its
transitions written but not committed: the round vanishes with it, and the replacement evaluates
the same instant and goes on without a double transition. And the `roomtemp alerts` process:
rounds on its period, a clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.alerts.eval_queries import ALERT_LOCK
from roomtemp.alerts.evaluator import Round, evaluate_once
from tests import alerts_reference as ref
from tests.alerts import support
from tests.alerts.test_evaluator import SPRING
from tests.threads import run_async

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


async def _rounds(url: str, instants: list[datetime]) -> list[Round]:
    engine = create_async_engine(url)
    try:
        return [await evaluate_once(engine, at, "UTC") for at in instants]
    finally:
        await engine.dispose()


def _lock_holder(conn: psycopg.Connection[Any]) -> int | None:
    """The backend holding the evaluation lock while it waits for another lock (mid-round)."""
    row = conn.execute(
        "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.classid = 0 AND l.objid = %s AND EXISTS (SELECT 1 FROM pg_locks w "
        "WHERE w.pid = l.pid AND NOT w.granted)",
        (ALERT_LOCK,),
    ).fetchone()
    return None if row is None else int(row[0])


@pytest.fixture
def blocker(conninfo: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(conninfo) as conn:
        yield conn


def test_killed_mid_round_replacement_continues(
    database_url: str,
    conninfo: str,
    db: psycopg.Connection[Any],
    blocker: psycopg.Connection[Any],
) -> None:
    world = support.build(db, SPRING, minutes=60, seed=21)
    # The instant to kill at: one with transitions (found on a copy of the reference).
    preview = ref.Reference(world.reference.zone, world.reference.rules, world.reference.captures)
    for at in world.instants:
        preview.evaluate(at)
    busy = sorted({t.at for t in preview.transitions if t.at >= world.instants[10]})
    kill_at = busy[0]
    k = world.instants.index(kill_at)

    async def setup() -> None:
        engine = create_async_engine(database_url)
        try:
            await support.put_rules(engine, world.start)
        finally:
            await engine.dispose()

    run_async(setup())
    for at in world.instants[:k]:
        world.feed(db, at)
        world.reference.evaluate(at)
        assert run_async(_rounds(database_url, [at]))[0].done
    world.feed(db, kill_at)
    world.reference.evaluate(kill_at)

    # Writers of alert_evaluation wait: the round stops at its last write, lock held.
    blocker.execute("LOCK TABLE alert_evaluation IN EXCLUSIVE MODE")
    victim = subprocess.Popen(
        [sys.executable, "-m", "tests.alerts.evaluate_at", database_url, kill_at.isoformat()],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
    )
    try:
        pid = _wait_for(lambda: _lock_holder(db))
        # It has written the round's alerts, transitions and outbox rows (uncommitted).
        written = {
            r[0]
            for r in db.execute(
                "SELECT relation::regclass::text FROM pg_locks "
                "WHERE pid = %s AND mode = 'RowExclusiveLock' AND granted",
                (pid,),
            )
        }
        assert {"alert", "alert_transition", "alert_outbox"} <= written
        # Another evaluator skips the instant while the victim holds the lock.
        assert not run_async(_rounds(database_url, [kill_at]))[0].done
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        if victim.poll() is None:
            victim.kill()
    blocker.rollback()  # the orphaned backend finds its client gone and rolls back
    _wait_for(lambda: run_async(_rounds(database_url, [kill_at]))[0].done)
    for at in world.instants[k + 1 :]:
        world.feed(db, at)
        world.reference.evaluate(at)
        assert run_async(_rounds(database_url, [at]))[0].done
    assert any(t.at == kill_at for t in world.reference.transitions)
    support.assert_same(support.stored_transitions(db), world.reference.transitions)


def _evaluations(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT count(*) FROM alert_evaluation").fetchone()
    assert row is not None
    return int(row[0])


def test_alerts_process_evaluates_on_its_period_and_stops_on_sigterm(
    database_url: str, db: psycopg.Connection[Any]
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ALERT_EVAL_SECONDS": "1",
        "LOG_FORMAT": "text",
        "PYTHONPATH": str(ROOT / "service"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "roomtemp", "alerts"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: _evaluations(db) >= 2, timeout=60)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    instants = [r[0] for r in db.execute("SELECT at FROM alert_evaluation ORDER BY at")]
    assert all(a.microsecond == 0 for a in instants)
    assert len(set(instants)) == len(instants)
    assert "alerts: stopped" in stderr
