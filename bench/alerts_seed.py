"""Seeding for the alerts bench (issue 21: 500 rules over 50,000 rooms): buildings, rooms,
default sensors and captures, then rules, all in set-based SQL; and one timed evaluation round.

    seed_rooms(conn, buildings=500, rooms_per_building=100, minutes=60, start=...)
    seed_rules(conn, 500, created_at=...)      # one rule per building, kinds in turn
    seconds = asyncio.run(time_round(url, at))
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.alerts.evaluator import evaluate_once
from roomtemp.db import room_sensors


def seed_rooms(
    conn: psycopg.Connection[Any],
    *,
    buildings: int,
    rooms_per_building: int,
    minutes: int,
    start: datetime,
    zone: str = "Europe/Zurich",
) -> int:
    """`buildings` x `rooms_per_building` rooms (keys b<i>/r<j>), each with its default
    temperature sensor and one capture a minute for `minutes` minutes from `start` (a slow wave
    around 22 °C, so some rooms cross every threshold). Returns the captures written."""
    conn.execute(
        "INSERT INTO building (key, name, time_zone) "
        "SELECT 'b' || i, 'B' || i, %s FROM generate_series(1, %s) i",
        (zone, buildings),
    )
    conn.execute(
        "INSERT INTO room (building_id, key, name) "
        "SELECT b.id, 'r' || j, '' FROM building b, generate_series(1, %s) j",
        (rooms_per_building,),
    )
    conn.execute(
        "INSERT INTO sensor (sensor_type_id, default_room_id) "
        "SELECT st.id, r.id FROM room r, sensor_type st WHERE st.key = 'temperature'"
    )
    conn.execute(
        "INSERT INTO sensor_assignment (valid_from, sensor_id, room_id) "
        "SELECT '-infinity', id, default_room_id FROM sensor WHERE default_room_id IS NOT NULL"
    )
    conn.execute(room_sensors.RECORD_ALL)
    cur = conn.execute(
        "INSERT INTO capture (ts, value, room_id, sensor_id) "
        "SELECT %s + make_interval(mins => m), "
        "       295.15 + 3 * sin(s.id * 0.7 + m / 9.0), s.default_room_id, s.id "
        "FROM sensor s, generate_series(0, %s - 1) m WHERE s.default_room_id IS NOT NULL",
        (start, minutes),
    )
    return cur.rowcount


def seed_rules(
    conn: psycopg.Connection[Any], rules: int, *, created_at: datetime, for_seconds: int = 120
) -> int:
    """`rules` rules, one per building in id order (round robin past the last building), every
    room of it in scope; kinds above 24 °C / below 20 °C / silent 10 min in turn."""
    cur = conn.execute(
        """
        INSERT INTO alert_rule (name, building_id, sensor_type_id, kind, threshold, unit,
                                silent_seconds, for_seconds, severity, created_at, updated_at)
        SELECT 'bench-' || n, b.ids[n %% cardinality(b.ids) + 1], st.id, k.kind, k.threshold,
               CASE WHEN k.kind = 'silent' THEN NULL ELSE 'celsius' END, k.silent,
               %(for)s, 'warning', %(at)s, %(at)s
        FROM generate_series(0, %(n)s - 1) n
        -- the building ids once, not a lateral per rule: on Citus building is a reference
        -- table, and a correlated subquery beside one is refused
        CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM building) b
        CROSS JOIN sensor_type st
        CROSS JOIN LATERAL (
            SELECT (ARRAY['above', 'below', 'silent'])[n %% 3 + 1] AS kind,
                   (ARRAY[297.15, 293.15, NULL])[n %% 3 + 1] AS threshold,
                   (ARRAY[NULL, NULL, 600])[n %% 3 + 1] AS silent
        ) k
        WHERE st.key = 'temperature'
        """,
        {"n": rules, "at": created_at, "for": for_seconds},
    )
    return cur.rowcount


async def time_round(url: str, at: datetime, zone: str = "UTC") -> float:
    """Wall seconds of one evaluation round at `at` (the round's own figure is recorded in
    alert_evaluation.seconds)."""
    engine = create_async_engine(url)
    try:
        started = time.perf_counter()
        done = await evaluate_once(engine, at, zone)
        assert done.done, "another evaluator holds the lock, or `at` was evaluated already"
        return time.perf_counter() - started
    finally:
        await engine.dispose()
