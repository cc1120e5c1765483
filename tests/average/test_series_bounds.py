from datetime import UTC, datetime, timedelta

import pytest

from roomtemp.average.service import series_bounds
from roomtemp.errors import InvalidInput

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)


def test_points_are_multiples_of_step_in_half_open_range() -> None:
    first, last, n = series_bounds(T0, T0 + timedelta(hours=1), STEP, max_points=100)
    # from is exclusive, to inclusive
    assert first == T0 + STEP
    assert last == T0 + timedelta(hours=1)
    assert n == 4


def test_unaligned_bounds() -> None:
    first, last, n = series_bounds(
        T0 + timedelta(minutes=1), T0 + timedelta(minutes=44), STEP, max_points=100
    )
    assert (first, last, n) == (T0 + STEP, T0 + 2 * STEP, 2)


def test_range_without_points() -> None:
    _, _, n = series_bounds(
        T0 + timedelta(minutes=1), T0 + timedelta(minutes=14), STEP, max_points=100
    )
    assert n == 0


def test_too_many_points() -> None:
    with pytest.raises(InvalidInput, match="at most 10 are allowed"):
        series_bounds(T0, T0 + 11 * STEP, STEP, max_points=10)
    assert series_bounds(T0, T0 + 10 * STEP, STEP, max_points=10)[2] == 10


def test_to_before_from() -> None:
    with pytest.raises(InvalidInput):
        series_bounds(T0, T0, STEP, max_points=10)
