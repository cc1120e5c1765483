"""Report arithmetic of report/service.py without a database: the unit of bare comfort bounds,
how a period splits into raw edges and rollup buckets, and how a room's SQL aggregates combine
with the value carried in from before the period (time-weighted mean, comfort shares, gaps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from roomtemp.average.service import Scale
from roomtemp.db.pieces import hour_runs, rollup_layout
from roomtemp.report.queries import RoomPeriodRow
from roomtemp.report.service import bounds_unit, room_report

T = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
IDENTITY = Scale("celsius", "celsius")


def at(ts: datetime) -> float:
    return ts.timestamp()


def row(**changes: object) -> RoomPeriodRow:
    """Two captures in [T - 5 min, T + 30 min): 20.0 at T held 600 s, 22.0 at T + 10 min held
    1200 s; 300 s before the first capture; the longest gap 1200 s from T + 10 min."""
    fields: dict[str, object] = {
        "room": "a",
        "sensor_id": 1,
        "count": 2,
        "mean": 21.0,
        "min": 20.0,
        "min_at": at(T),
        "max": 22.0,
        "max_at": at(T + timedelta(minutes=10)),
        "held_value_seconds": 20.0 * 600 + 22.0 * 1200,
        "held_seconds": 1800.0,
        "held_below": 600.0,  # 20.0 < 20.5
        "held_above": 1200.0,  # 22.0 > 21.5
        "gap_seconds": 1200.0,
        "gap_start": at(T + timedelta(minutes=10)),
        "lead_seconds": 300.0,
        "carried": None,
    }
    fields.update(changes)
    fields.setdefault("carry_seconds", fields["lead_seconds"])  # no move cuts the carry
    return RoomPeriodRow(**fields)  # type: ignore[arg-type]


START = T - timedelta(minutes=5)
END = T + timedelta(minutes=30)


@pytest.mark.parametrize(
    ("canonical", "unit", "expected"),
    [
        ("kelvin", None, "celsius"),
        ("kelvin", "°F", "fahrenheit"),
        ("kelvin", "K", "kelvin"),
        ("percent", None, "percent"),
        ("percent", " percent ", "percent"),
    ],
)
def test_bounds_unit(canonical: str, unit: str | None, expected: str) -> None:
    assert bounds_unit(canonical, unit) == expected


def d(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_layout_within_one_hour_is_all_raw() -> None:
    assert rollup_layout([d(22, 10, 10), d(22, 10, 50)]) == ([d(22, 10)], [])


def test_layout_within_one_hour_edge_is_all_raw() -> None:
    assert rollup_layout([d(22, 10, 30), d(22, 11, 30)]) == ([d(22, 10), d(22, 11)], [])


def test_layout_hours_only_within_a_day() -> None:
    # raw 10:00 and 13:00 hours; 11:00 and 12:00 from 1-hour pieces
    assert rollup_layout([d(22, 10, 30), d(22, 13, 30)]) == ([d(22, 10), d(22, 13)], [])


def test_layout_on_hour_edges_reads_every_hour_from_pieces() -> None:
    # Pieces are left-closed (migration 0009): the one starting at 11:00 is [11:00, 12:00), the
    # period's own side, so [10:00, 12:00) is two whole pieces and nothing raw.
    assert rollup_layout([d(22, 10), d(22, 12)]) == ([], [])


def test_layout_over_several_days_uses_day_buckets_in_the_middle() -> None:
    assert rollup_layout([d(20, 10, 30), d(23, 5, 15)]) == (
        [d(20, 10), d(23, 5)],
        [d(21, 0), d(22, 0)],
    )


def test_layout_from_midnight_to_midnight() -> None:
    assert rollup_layout([d(21, 0), d(23, 0)]) == ([], [d(21, 0), d(22, 0)])


def test_layout_of_local_days_off_the_hour() -> None:
    """Days in Asia/Kathmandu (+05:45) start at 18:15 UTC: each edge's hour is raw, no UTC day
    lies inside one local day, every other hour is a 1-hour piece."""
    edges = [d(20, 18, 15), d(21, 18, 15), d(22, 18, 15)]
    assert rollup_layout(edges) == ([d(20, 18), d(21, 18), d(22, 18)], [])


def test_room_report_without_a_carried_value() -> None:
    report = room_report(
        "a", [row()], start=START, end=END, low=20.5, high=21.5, scale=IDENTITY, with_shares=True
    )
    assert report.count == 2
    assert report.mean == 21.0
    assert report.time_weighted_mean == pytest.approx(38400 / 1800, rel=1e-15)
    assert (report.min, report.min_ts) == (20.0, T)
    assert (report.max, report.max_ts) == (22.0, T + timedelta(minutes=10))
    assert report.share_below == pytest.approx(1 / 3, rel=1e-15)
    assert report.share_above == pytest.approx(2 / 3, rel=1e-15)
    assert (report.longest_gap_seconds, report.longest_gap_start) == (
        1200.0,
        T + timedelta(minutes=10),
    )


def test_the_carried_value_holds_over_the_lead_and_counts_in_the_shares() -> None:
    report = room_report(
        "a",
        [row(carried=19.0)],
        start=START,
        end=END,
        low=20.5,
        high=21.5,
        scale=IDENTITY,
        with_shares=True,
    )
    # (38400 + 19.0 * 300) / (1800 + 300)
    assert report.time_weighted_mean == 21.0
    assert report.share_below == pytest.approx(900 / 2100, rel=1e-15)
    assert report.share_above == pytest.approx(1200 / 2100, rel=1e-15)
    assert report.mean == 21.0  # the plain mean is over the period's captures only


def test_a_carried_value_on_the_bound_is_neither_below_nor_above() -> None:
    report = room_report(
        "a",
        [row(carried=20.5)],
        start=START,
        end=END,
        low=20.5,
        high=21.5,
        scale=IDENTITY,
        with_shares=True,
    )
    assert report.share_below == pytest.approx(600 / 2100, rel=1e-15)
    assert report.share_above == pytest.approx(1200 / 2100, rel=1e-15)


def test_a_carried_value_above_counts_above() -> None:
    report = room_report(
        "a",
        [row(carried=30.0)],
        start=START,
        end=END,
        low=20.5,
        high=21.5,
        scale=IDENTITY,
        with_shares=True,
    )
    assert report.share_above == pytest.approx(1500 / 2100, rel=1e-15)


def test_the_lead_is_the_longest_gap_when_it_is_longer() -> None:
    report = room_report(
        "a",
        [row(lead_seconds=1500.0)],
        start=START,
        end=END,
        low=20.5,
        high=21.5,
        scale=IDENTITY,
        with_shares=True,
    )
    assert (report.longest_gap_seconds, report.longest_gap_start) == (1500.0, START)


def test_a_lead_equal_to_the_gap_reports_the_earlier_one() -> None:
    report = room_report(
        "a",
        [row(lead_seconds=1200.0)],
        start=START,
        end=END,
        low=20.5,
        high=21.5,
        scale=IDENTITY,
        with_shares=True,
    )
    assert (report.longest_gap_seconds, report.longest_gap_start) == (1200.0, START)


def test_no_capture_in_the_period_but_a_carried_value() -> None:
    empty = row(
        count=0,
        mean=None,
        min=None,
        min_at=None,
        max=None,
        max_at=None,
        held_value_seconds=None,
        held_seconds=None,
        held_below=None,
        held_above=None,
        gap_seconds=None,
        gap_start=None,
        lead_seconds=2100.0,
        carried=21.0,
    )
    report = room_report(
        "a", [empty], start=START, end=END, low=20.5, high=21.5, scale=IDENTITY, with_shares=True
    )
    assert report.time_weighted_mean == 21.0
    assert (report.share_below, report.share_above) == (0.0, 0.0)
    assert (report.mean, report.min, report.min_ts, report.max_ts) == (None, None, None, None)
    assert (report.longest_gap_seconds, report.longest_gap_start) == (2100.0, START)


def test_no_capture_and_nothing_carried_has_no_means_and_no_shares() -> None:
    empty = row(
        count=0,
        mean=None,
        min=None,
        min_at=None,
        max=None,
        max_at=None,
        held_value_seconds=None,
        held_seconds=None,
        held_below=None,
        held_above=None,
        gap_seconds=None,
        gap_start=None,
        lead_seconds=2100.0,
    )
    report = room_report(
        "a", [empty], start=START, end=END, low=20.5, high=21.5, scale=IDENTITY, with_shares=True
    )
    assert (report.time_weighted_mean, report.share_below, report.share_above) == (None, None, None)
    assert (report.longest_gap_seconds, report.longest_gap_start) == (2100.0, START)


def test_without_both_bounds_there_are_no_shares() -> None:
    report = room_report(
        "a",
        [row(carried=19.0)],
        start=START,
        end=END,
        low=20.5,
        high=21.5,
        scale=IDENTITY,
        with_shares=False,
    )
    assert (report.share_below, report.share_above) == (None, None)
    assert report.time_weighted_mean == 21.0


def test_values_are_converted_to_the_asked_unit_shares_and_gaps_are_not() -> None:
    kelvin = row(
        mean=294.15,
        min=293.15,
        max=295.15,
        held_value_seconds=293.15 * 600 + 295.15 * 1200,
    )
    report = room_report(
        "a",
        [kelvin],
        start=START,
        end=END,
        low=293.65,
        high=294.65,
        scale=Scale("fahrenheit", "kelvin"),
        with_shares=True,
    )
    assert report.mean == pytest.approx(69.8, abs=1e-9)
    assert report.min == pytest.approx(68.0, abs=1e-9)
    assert report.max == pytest.approx(71.6, abs=1e-9)
    assert report.time_weighted_mean == pytest.approx(70.4, abs=1e-9)  # 21.333… °C
    assert report.share_below == pytest.approx(1 / 3, rel=1e-15)
    assert report.longest_gap_seconds == 1200.0


def test_a_move_cuts_the_carried_value_short_of_the_lead() -> None:
    # the sensor left the room 100 s into the period: its carried 19.0 holds 100 s, not 300
    report = room_report(
        "a",
        [row(carried=19.0, carry_seconds=100.0)],
        start=START,
        end=END,
        low=20.5,
        high=21.5,
        scale=IDENTITY,
        with_shares=True,
    )
    assert report.time_weighted_mean == pytest.approx((38400 + 1900) / 1900, rel=1e-15)
    assert (report.longest_gap_seconds, report.longest_gap_start) == (
        1200.0,
        T + timedelta(minutes=10),
    )


def test_sensors_pool_captures_and_average_their_own_time_weighted_means() -> None:
    other = row(
        sensor_id=2,
        count=1,
        mean=25.0,
        min=20.0,  # ties the first sensor's minimum, later
        min_at=at(T + timedelta(minutes=20)),
        max=25.0,
        max_at=at(T + timedelta(minutes=20)),
        held_value_seconds=25.0 * 600,
        held_seconds=600.0,
        held_below=0.0,
        held_above=600.0,
        gap_seconds=600.0,
        gap_start=at(T + timedelta(minutes=20)),
        lead_seconds=1500.0,  # its silence before its first capture is the longest gap
        carried=None,
    )
    report = room_report(
        "a",
        [row(), other],
        start=START,
        end=END,
        low=20.5,
        high=21.5,
        scale=IDENTITY,
        with_shares=True,
    )
    assert (report.count, report.sensors) == (3, 2)
    assert report.mean == pytest.approx((20.0 + 22.0 + 25.0) / 3, rel=1e-15)
    assert (report.min, report.min_ts) == (20.0, T)
    assert (report.max, report.max_ts) == (25.0, T + timedelta(minutes=20))
    assert report.time_weighted_mean == pytest.approx((38400 / 1800 + 25.0) / 2, rel=1e-15)
    assert report.share_below == pytest.approx((1 / 3 + 0) / 2, rel=1e-15)
    assert report.share_above == pytest.approx((2 / 3 + 1) / 2, rel=1e-15)
    assert (report.longest_gap_seconds, report.longest_gap_start) == (1500.0, START)


def test_hour_runs_skip_raw_hours_and_whole_days() -> None:
    edges = [d(20, 10, 30), d(23, 5, 15)]
    raw, days = rollup_layout(edges)
    # 11:00 on the 20th to midnight, then the 23rd from midnight to 05:00 (the 05:00 hour raw)
    assert hour_runs(edges, raw, days) == ([d(20, 11), d(23, 0)], [d(21, 0), d(23, 5)])


def test_hour_runs_between_local_midnights_off_the_hour() -> None:
    edges = [d(20, 18, 15), d(21, 18, 15), d(22, 18, 15)]
    raw, days = rollup_layout(edges)
    assert hour_runs(edges, raw, days) == ([d(20, 19), d(21, 19)], [d(21, 18), d(22, 18)])


def test_hour_runs_of_whole_days_are_empty() -> None:
    edges = [d(21, 0), d(23, 0)]
    assert hour_runs(edges, *rollup_layout(edges)) == ([], [])
