"""The alerts bench's seeding (bench/alerts_seed.py) builds a world the evaluator works on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from bench.alerts_seed import seed_rooms, seed_rules, time_round

from tests.threads import run_async

START = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def test_seeded_rules_evaluate(database_url: str, db: psycopg.Connection[Any]) -> None:
    captures = seed_rooms(db, buildings=6, rooms_per_building=10, minutes=30, start=START)
    assert captures == 6 * 10 * 30
    assert seed_rules(db, 9, created_at=START) == 9
    kinds = db.execute("SELECT kind, count(*) FROM alert_rule GROUP BY kind ORDER BY kind")
    assert kinds.fetchall() == [("above", 3), ("below", 3), ("silent", 3)]
    at = START + timedelta(minutes=30)
    assert run_async(time_round(database_url, at)) > 0
    row = db.execute("SELECT rules, rooms FROM alert_evaluation").fetchone()
    assert row == (9, 9 * 10)
    opened = db.execute("SELECT count(*) FROM alert").fetchone()
    assert opened is not None
    assert opened[0] > 0
