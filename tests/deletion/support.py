"""Checks shared by the delete tests: every rollup level against the raw captures, in Python."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import psycopg

from tests.pieces import PIECE_COLUMNS, assert_pieces, expected_pieces

ROLLUPS = ("capture_rollup_15m", "capture_rollup_1h", "capture_rollup_1d")


def assert_rollups_match_raw(db: psycopg.Connection[Any]) -> None:
    """Every rollup level (15-minute sums, 1-hour and 1-day pieces) equals the same level
    computed in Python from the raw captures stored now, per (room, sensor)."""
    raw = db.execute(
        "SELECT r.key || '/' || c.sensor_id, c.ts, c.value, t.comfort_low, t.comfort_high"
        " FROM capture c JOIN room r ON r.id = c.room_id JOIN sensor s ON s.id = c.sensor_id"
        " JOIN sensor_type t ON t.id = s.sensor_type_id"
    ).fetchall()
    final = {(k, ts): v for k, ts, v, _, _ in raw}
    bounds = {(lo, hi) for *_, lo, hi in raw}
    assert len(bounds) <= 1  # one sensor type in these tests
    low, high = bounds.pop() if bounds else (None, None)
    low = float("-inf") if low is None else low  # NULL bounds count nothing
    high = float("inf") if high is None else high
    quarter = expected_pieces(final, timedelta(minutes=15), low, high, keyed_by_end=True)
    sums = ("count", "sum", "min", "max")
    assert_pieces(
        stored(db, "capture_rollup_15m", "bucket", sums),
        {k: {c: p[c] for c in sums} for k, p in quarter.items()},
    )
    for stride, table in ((timedelta(hours=1), ROLLUPS[1]), (timedelta(days=1), ROLLUPS[2])):
        got = stored(db, table, "start", PIECE_COLUMNS)
        assert_pieces(got, expected_pieces(final, stride, low, high))


def stored(
    db: psycopg.Connection[Any], table: str, time: str, columns: Sequence[str]
) -> dict[Any, dict[str, Any]]:
    """A rollup table by ('room/sensor id', bucket end or piece start)."""
    rows = db.execute(
        f"SELECT r.key || '/' || x.sensor_id, x.{time}, {', '.join('x.' + c for c in columns)}"
        f" FROM {table} x JOIN room r ON r.id = x.room_id"
    ).fetchall()
    return {(r[0], r[1]): dict(zip(columns, r[2:], strict=True)) for r in rows}
