from datetime import UTC, datetime, timedelta

import pytest

from roomtemp.errors import InvalidInput
from roomtemp.timefmt import PLUS_HINT, format_duration, parse_duration, parse_time, parse_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T10:00:00+01:00", datetime(2026, 11, 22, 9, tzinfo=UTC)),
        ("2026-11-22T10:00:00Z", datetime(2026, 11, 22, 10, tzinfo=UTC)),
        ("2026-11-22t10:00:00z", datetime(2026, 11, 22, 10, tzinfo=UTC)),
        ("2026-11-22T10:00:00.123456789-02:30", datetime(2026, 11, 22, 12, 30, 0, 123456, UTC)),
        (1700000000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (1700000000.5, datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)),
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    ],
)
def test_accepted_timestamps(text: object, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


def test_missing_offset_says_so() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_timestamp("2026-11-22T10:00:00")


@pytest.mark.parametrize(
    "bad",
    [
        "yesterday",
        "2026-13-01T00:00:00Z",
        "2026-11-22",
        True,
        None,
        float("nan"),
        float("inf"),
        1e20,
        -5,
        "",
        "2026-11-22T10:00:00+25:00",
        [],
    ],
)
def test_rejected_timestamps(bad: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by case
        parse_timestamp(bad)


@pytest.mark.parametrize(
    "text",
    ["2026-11-22T10:00:00 01:00", "2026-11-22 10:00 05:30", "2026-11-22T10:00:00.25 00:00"],
)
def test_a_space_where_the_offset_sign_was_gets_the_hint(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_time(text, "at")
    [detail] = raised.value.details
    assert detail.field == "at"
    assert detail.message.endswith(PLUS_HINT)
    assert str(raised.value).endswith(PLUS_HINT)


@pytest.mark.parametrize("text", ["yesterday", "2026-11-22T10:00:00", "2026-11-22T10:00 01"])
def test_other_bad_times_get_no_hint(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_time(text, "at")
    assert "%2B" not in str(raised.value)


def test_durations() -> None:
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("24h") == timedelta(days=1)
    assert parse_duration("1d") == timedelta(days=1)
    assert format_duration(timedelta(minutes=15)) == "15m"
    assert format_duration(timedelta(seconds=90)) == "90s"
    assert format_duration(timedelta(days=2)) == "2d"
    for bad in ["15", "m", "1.5h", "-5m", "15 minutes", "PT15M"]:
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)
