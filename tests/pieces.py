"""Plain-Python references for period reports and for rollup pieces (roomtemp/db/pieces.py)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PIECE_COLUMNS = (
    "count", "sum", "min", "max", "min_ts", "max_ts", "first_ts", "first_value", "last_ts",
    "last_value", "value_seconds", "below_seconds", "above_seconds", "gap_seconds", "gap_start",
)  # fmt: skip


def reference(
    series: list[tuple[datetime, float]], start: datetime, end: datetime, low: float, high: float
) -> dict[str, Any]:
    """The report of one room, straight from the definitions (values in celsius)."""
    before = [(t, v) for t, v in series if t < start]
    inside = sorted((t, v) for t, v in series if start <= t < end)
    held: list[tuple[float, float]] = []  # (value, seconds)
    if before:
        first = inside[0][0] if inside else end
        held.append((max(before)[1], (first - start).total_seconds()))
    for i, (t, v) in enumerate(inside):
        nxt = inside[i + 1][0] if i + 1 < len(inside) else end
        held.append((v, (nxt - t).total_seconds()))
    total = sum(s for _, s in held)
    points = [start] + [t for t, _ in inside] + [end]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(points)]
    longest = max(gaps)
    values = [v for _, v in inside]
    out: dict[str, Any] = {
        "count": len(inside),
        "mean": sum(values) / len(values) if values else None,
        "time_weighted_mean": sum(v * s for v, s in held) / total if total else None,
        "min": min(values) if values else None,
        "max": max(values) if values else None,
        "min_ts": min(t for t, v in inside if v == min(values)) if values else None,
        "max_ts": min(t for t, v in inside if v == max(values)) if values else None,
        "share_below": sum(s for v, s in held if v < low) / total if total else None,
        "share_above": sum(s for v, s in held if v > high) / total if total else None,
        "longest_gap_seconds": longest,
        "longest_gap_start": points[gaps.index(longest)],
    }
    return out


def bucket_end(ts: datetime, stride: timedelta) -> datetime:
    """The end of the end-keyed bucket (end - stride, end] holding ts (15-minute rollups)."""
    us = (ts - EPOCH) // timedelta(microseconds=1)
    s = stride // timedelta(microseconds=1)
    return EPOCH + timedelta(microseconds=((us - 1) // s + 1) * s)


def bucket_start(ts: datetime, stride: timedelta) -> datetime:
    """The start of the left-closed piece [start, start + stride) holding ts (1 h, 1 d)."""
    return EPOCH + (ts - EPOCH) // stride * stride


def piece(captures: list[tuple[datetime, float]], low: float, high: float) -> dict[str, Any]:
    """One piece from its captures (sorted by time), by the definitions."""
    values = [v for _, v in captures]
    segs = [(t, v, (n - t).total_seconds()) for (t, v), (n, _) in itertools.pairwise(captures)]
    longest = max((s for _, _, s in segs), default=0.0)
    return {
        "count": len(captures),
        "sum": sum(values),
        "min": min(values),
        "max": max(values),
        "min_ts": min(t for t, v in captures if v == min(values)),
        "max_ts": min(t for t, v in captures if v == max(values)),
        "first_ts": captures[0][0],
        "first_value": captures[0][1],
        "last_ts": captures[-1][0],
        "last_value": captures[-1][1],
        "value_seconds": sum(v * s for _, v, s in segs),
        "below_seconds": sum(s for _, v, s in segs if v < low),
        "above_seconds": sum(s for _, v, s in segs if v > high),
        "gap_seconds": longest,
        "gap_start": min((t for t, _, s in segs if s == longest), default=captures[0][0]),
    }


def expected_pieces(
    final: Mapping[tuple[str, datetime], float],
    stride: timedelta,
    low: float,
    high: float,
    *,
    keyed_by_end: bool = False,
) -> dict[tuple[str, datetime], dict[str, Any]]:
    """The pieces by (room, start) of [start, start + stride), or by (room, end) of
    (end - stride, end] (`keyed_by_end`, as the 15-minute rollups are)."""
    key = bucket_end if keyed_by_end else bucket_start
    groups: dict[tuple[str, datetime], list[tuple[datetime, float]]] = {}
    for (room, ts), v in sorted(final.items()):
        groups.setdefault((room, key(ts, stride)), []).append((ts, v))
    return {k: piece(v, low, high) for k, v in groups.items()}


def stored_pieces(
    db: psycopg.Connection[Any], table: str, time: str = "start"
) -> dict[tuple[str, datetime], dict[str, Any]]:
    """The pieces of `table` by (room, `time`): `start` since migration 0009, `bucket` (the
    end) before."""
    rows = db.execute(
        f"SELECT r.key, x.{time}, {', '.join('x.' + c for c in PIECE_COLUMNS)} "
        f"FROM {table} x JOIN room r ON r.id = x.room_id"
    ).fetchall()
    return {(r[0], r[1]): dict(zip(PIECE_COLUMNS, r[2:], strict=True)) for r in rows}


def assert_pieces(got: dict[Any, dict[str, Any]], want: dict[Any, dict[str, Any]]) -> None:
    """Times exact; numbers to 1e-12 relative (sums in another order than Python's)."""
    assert got.keys() == want.keys()
    for key, w in want.items():
        for column, value in w.items():
            if isinstance(value, float):
                assert got[key][column] == pytest.approx(value, rel=1e-12, abs=1e-9), (
                    key,
                    column,
                    got[key][column],
                    value,
                )
            else:
                assert got[key][column] == value, (key, column, got[key][column], value)
