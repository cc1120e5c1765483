"""The ingest rules of capture/service.py without a database: batch size, units, absolute zero,
plausible ranges, future skew, retention and unknown sensor types, each with its exact detail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from roomtemp.capture import rules, service
from roomtemp.capture.schemas import CaptureIn
from roomtemp.errors import ErrorDetail, InvalidInput, PayloadTooLarge
from roomtemp.registry.queries import SensorTypeRow
from roomtemp.registry.service import RoomIds

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
POLICY = service.IngestPolicy(
    auto_register=True, max_batch_size=10, max_future_skew=timedelta(seconds=60)
)
TEMPERATURE = SensorTypeRow(1, "temperature", "kelvin", 213.15, 373.15, "", NOW)
HUMIDITY = SensorTypeRow(2, "humidity", "percent", 0.0, 100.0, "", NOW)
TYPES = {"temperature": TEMPERATURE, "humidity": HUMIDITY}


def item(
    value: float, unit: str | None = "celsius", ts: datetime = NOW, **fields: str
) -> CaptureIn:
    body: dict[str, object] = {
        "building": "hq",
        "room": "a",
        "value": value,
        "ts": ts.isoformat(),
        **fields,
    }
    if unit is not None:
        body["unit"] = unit
    return CaptureIn.model_validate(body)


def canonical(
    it: CaptureIn, st: SensorTypeRow = TEMPERATURE
) -> tuple[float | None, list[ErrorDetail]]:
    problems: list[ErrorDetail] = []
    return rules.canonical_value(it, st, 3, problems), problems


def check(
    it: CaptureIn, policy: service.IngestPolicy = POLICY
) -> tuple[float | None, list[ErrorDetail]]:
    problems: list[ErrorDetail] = []
    latest = NOW + policy.max_future_skew
    return rules.check_item(
        it,
        type_key=it.sensor_type,
        index=0,
        sensor_types=TYPES,
        latest=latest,
        policy=policy,
        problems=problems,
    ), problems


def test_batch_at_the_limit_passes() -> None:
    service.check_batch_size(10, POLICY)
    service.check_batch_size(1, POLICY)


def test_batch_over_the_limit_is_too_large() -> None:
    with pytest.raises(PayloadTooLarge) as err:
        service.check_batch_size(11, POLICY)
    assert str(err.value) == "batch of 11 captures exceeds the limit of 10"


def test_empty_batch_is_invalid_and_names_the_body() -> None:
    with pytest.raises(InvalidInput) as err:
        service.check_batch_size(0, POLICY)
    assert str(err.value) == "empty batch"
    assert err.value.details == [ErrorDetail("send at least one capture", field="body")]


@pytest.mark.parametrize(
    ("value", "unit", "kelvin"),
    [
        (21.5, "celsius", 294.65),
        (21.5, "°C", 294.65),
        (70.7, "F", 294.65),
        (294.65, "K", 294.65),
        (294.65, None, 294.65),  # no unit: the canonical one
    ],
)
def test_value_is_converted_to_the_canonical_unit(
    value: float, unit: str | None, kelvin: float
) -> None:
    got, problems = canonical(item(value, unit))
    assert problems == []
    assert got == pytest.approx(kelvin, abs=1e-9)


def test_canonical_unit_passes_through_bit_for_bit() -> None:
    assert canonical(item(0.1 + 0.2, None, sensor_type="humidity"), HUMIDITY)[0] == 0.1 + 0.2


def test_unit_of_another_quantity_lists_the_temperature_units() -> None:
    got, problems = canonical(item(21.5, "percent"))
    assert got is None
    assert problems == [
        ErrorDetail(
            "unit 'percent' is not valid for sensor type 'temperature' "
            "(use kelvin, celsius, fahrenheit)",
            field="unit",
            index=3,
            code="bad_unit",
        )
    ]


def test_temperature_unit_for_a_non_temperature_type_names_its_only_unit() -> None:
    got, problems = canonical(item(50.0, "celsius", sensor_type="humidity"), HUMIDITY)
    assert got is None
    assert [(p.message, p.code) for p in problems] == [
        ("unit 'celsius' is not valid for sensor type 'humidity' (use percent)", "bad_unit")
    ]


def test_below_absolute_zero_is_reported_in_the_normalised_unit() -> None:
    got, problems = canonical(item(-300.0, "°C"))
    assert got is None
    assert problems == [
        ErrorDetail("-300.0 celsius is below absolute zero", "value", 3, "below_absolute_zero")
    ]


def test_absolute_zero_itself_is_not_below_it_but_outside_the_range() -> None:
    got, problems = canonical(item(-459.67, "fahrenheit"))
    assert got is None
    assert [p.code for p in problems] == ["implausible_value"]


def test_outside_the_plausible_range_names_the_range_in_the_canonical_unit() -> None:
    got, problems = canonical(item(150.0, "celsius"))
    assert got is None
    assert problems == [
        ErrorDetail(
            "150.0 celsius is outside the plausible range of 'temperature' "
            "(213.15 … 373.15 kelvin); check the unit",
            "value",
            3,
            "implausible_value",
        )
    ]


@pytest.mark.parametrize(
    ("value", "unit"), [(-60.0, "celsius"), (100.0, "celsius"), (-76.0, "fahrenheit"), (212.0, "F")]
)
def test_range_bounds_are_inclusive_in_every_unit(value: float, unit: str) -> None:
    got, problems = canonical(item(value, unit))
    assert problems == []
    assert got is not None


def test_just_outside_the_range_is_refused() -> None:
    assert canonical(item(100.001, "celsius"))[0] is None
    assert canonical(item(-60.001, "celsius"))[0] is None


def test_a_valid_item_yields_its_canonical_value_and_no_problem() -> None:
    got, problems = check(item(20.0, ts=NOW - timedelta(days=400)))
    assert problems == []
    assert got == pytest.approx(293.15, abs=1e-9)


def test_the_future_skew_is_inclusive() -> None:
    assert check(item(20.0, ts=NOW + timedelta(seconds=60)))[1] == []


def test_a_capture_too_far_in_the_future_is_named_and_its_value_still_checked() -> None:
    ts = NOW + timedelta(seconds=61)
    got, problems = check(item(-300.0, ts=ts))
    assert got is None
    assert [(p.code, p.field, p.index) for p in problems] == [
        ("in_future", "ts", 0),
        ("below_absolute_zero", "value", 0),
    ]
    assert (
        problems[0].message == "timestamp 2026-11-22T10:01:01+00:00 is more than 60 s in the future"
    )


def test_a_capture_older_than_the_retention_is_refused() -> None:
    policy = service.IngestPolicy(True, 10, timedelta(seconds=60), retention=timedelta(days=30))
    got, problems = check(item(20.0, ts=NOW - timedelta(days=30, seconds=1)), policy)
    assert got is not None  # the value itself is fine; the item is still rejected
    assert problems == [
        ErrorDetail(
            "timestamp 2026-10-23T09:59:59+00:00 is older than the retention of 30 days "
            "(RETENTION_DAYS); it would be deleted",
            "ts",
            0,
            "beyond_retention",
        )
    ]


def test_the_retention_edge_itself_is_kept() -> None:
    policy = service.IngestPolicy(True, 10, timedelta(seconds=60), retention=timedelta(days=30))
    assert check(item(20.0, ts=NOW - timedelta(days=30)), policy)[1] == []


def test_an_unknown_sensor_type_is_named() -> None:
    got, problems = check(item(20.0, sensor_type="co2"))
    assert got is None
    assert problems == [
        ErrorDetail("unknown sensor type 'co2'", "sensor_type", 0, "unknown_sensor_type")
    ]


def test_rejection_counts_items_not_problems_and_sorts_by_index() -> None:
    problems = [
        ErrorDetail("b", "value", 4),
        ErrorDetail("a", "ts", 1),
        ErrorDetail("c", "unit", 4),
    ]
    err = rules.rejected(problems, 5)
    assert str(err) == "2 of 5 captures are invalid; nothing was stored"
    assert [(p.index, p.message) for p in err.details] == [(1, "a"), (4, "b"), (4, "c")]


def test_unknown_room_detail_names_the_wrong_field() -> None:
    found = RoomIds({}, frozenset({"hq"}))
    assert found.missing("hq", "a", 2) == ErrorDetail(
        "unknown room 'a' in building 'hq' (auto-registration is off)", "room", 2, "unknown_room"
    )
    assert found.missing("other", "a", 2) == ErrorDetail(
        "unknown building 'other' (auto-registration is off)", "building", 2, "unknown_building"
    )
