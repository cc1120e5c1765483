"""The per-item ingest rules: time bounds, sensor (type) in service, unit, plausible range."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from roomtemp import units
from roomtemp.capture.schemas import CaptureItem, SensorCaptureIn
from roomtemp.capture.sensor_queries import SensorRow
from roomtemp.errors import ErrorDetail, InvalidInput, PayloadTooLarge, UnknownSensors
from roomtemp.registry.service import SensorTypeRow
from roomtemp.settings import Settings


@dataclass(frozen=True)
class IngestPolicy:
    auto_register: bool
    max_batch_size: int
    max_future_skew: timedelta
    retention: timedelta | None = None  # captures older than now - retention are refused


def policy_from(settings: Settings) -> IngestPolicy:
    return IngestPolicy(
        auto_register=settings.auto_register,
        max_batch_size=settings.max_batch_size,
        max_future_skew=timedelta(seconds=settings.max_future_skew_seconds),
        retention=timedelta(days=settings.retention_days) if settings.retention_days else None,
    )


@dataclass(frozen=True)
class IngestCounts:
    inserted: int
    duplicates: int
    updated: int


def check_batch_size(size: int, policy: IngestPolicy) -> None:
    if size > policy.max_batch_size:
        raise PayloadTooLarge(
            f"batch of {size} captures exceeds the limit of {policy.max_batch_size}"
        )
    if size == 0:
        raise InvalidInput("empty batch", [ErrorDetail("send at least one capture", field="body")])


def canonical_value(
    item: CaptureItem, sensor_type: SensorTypeRow, index: int | None, problems: list[ErrorDetail]
) -> float | None:
    """The value in the sensor type's canonical unit, or None after recording why not."""
    unit = units.normalise(item.unit) if item.unit is not None else sensor_type.unit
    try:
        value = units.convert(item.value, unit, sensor_type.unit)
    except units.UnitError:
        temperature = sensor_type.unit in units.TEMPERATURE_UNITS
        allowed = ", ".join(units.TEMPERATURE_UNITS) if temperature else sensor_type.unit
        problems.append(
            ErrorDetail(
                f"unit {item.unit!r} is not valid for sensor type {sensor_type.key!r} "
                f"(use {allowed})",
                field="unit",
                index=index,
                code="bad_unit",
            )
        )
        return None
    if units.below_absolute_zero(value, sensor_type.unit):
        problems.append(
            ErrorDetail(
                f"{item.value} {unit} is below absolute zero",
                field="value",
                index=index,
                code="below_absolute_zero",
            )
        )
        return None
    if not units.within(value, sensor_type.min_value, sensor_type.max_value):
        problems.append(
            ErrorDetail(
                f"{item.value} {unit} is outside the plausible range of {sensor_type.key!r} "
                f"({sensor_type.min_value:g} … {sensor_type.max_value:g} {sensor_type.unit}); "
                "check the unit",
                field="value",
                index=index,
                code="implausible_value",
            )
        )
        return None
    return value


def value_check(
    sensor_type: SensorTypeRow, unit: str | None
) -> Callable[[float], float | None] | None:
    """canonical_value for values of `sensor_type` sent in `unit`, without naming problems: the
    function returns the canonical value, or None where canonical_value would record a problem
    (the caller then runs canonical_value for its message). None instead of a function for a
    unit the type cannot take. A batch looks this up once per (type, unit), not per item."""
    canonical = units.normalise(unit) if unit is not None else sensor_type.unit
    target, low, high = sensor_type.unit, sensor_type.min_value, sensor_type.max_value
    try:
        units.convert(0.0, canonical, target)  # whether the units convert, whatever the value
    except units.UnitError:
        return None

    def check(value: float) -> float | None:
        converted = units.convert(value, canonical, target)
        if units.below_absolute_zero(converted, target):
            return None
        return converted if units.within(converted, low, high) else None

    return check


def check_item(
    item: CaptureItem,
    *,
    type_key: str,
    index: int | None,
    sensor_types: dict[str, SensorTypeRow],
    latest: datetime,
    policy: IngestPolicy,
    problems: list[ErrorDetail],
) -> float | None:
    """The canonical value of one parsed capture, or None after recording its problems."""
    if item.ts > latest:
        problems.append(
            ErrorDetail(
                f"timestamp {item.ts.isoformat()} is more than "
                f"{int(policy.max_future_skew.total_seconds())} s in the future",
                field="ts",
                index=index,
                code="in_future",
            )
        )
    if policy.retention is not None:
        oldest = latest - policy.max_future_skew - policy.retention
        if item.ts < oldest:
            problems.append(
                ErrorDetail(
                    f"timestamp {item.ts.isoformat()} is older than the retention of "
                    f"{policy.retention.days} days (RETENTION_DAYS); it would be deleted",
                    field="ts",
                    index=index,
                    code="beyond_retention",
                )
            )
    st = sensor_types.get(type_key)
    if st is None:
        problems.append(
            ErrorDetail(
                f"unknown sensor type {type_key!r}",
                field="sensor_type",
                index=index,
                code="unknown_sensor_type",
            )
        )
        return None
    return canonical_value(item, st, index, problems)


def type_key_of(item: CaptureItem, sensors: dict[str, SensorRow]) -> str | None:
    """The sensor type an item's value is of; None for a sensor key that is not in service."""
    if isinstance(item, SensorCaptureIn):
        row = sensors.get(item.sensor)
        return None if row is None or row.retired else row.sensor_type_key
    return item.sensor_type


def unknown_sensor(
    item: SensorCaptureIn, sensors: dict[str, SensorRow], index: int | None
) -> ErrorDetail:
    why = "is retired" if item.sensor in sensors else "is not registered"
    return ErrorDetail(
        f"sensor {item.sensor!r} {why}; register it (POST /v1/sensors) and send again",
        field="sensor",
        index=index,
        code="unknown_sensor",
    )


def rejected(
    problems: list[ErrorDetail], size: int, refused: dict[str, int] | None = None
) -> InvalidInput:
    problems.sort(key=lambda p: p.index or 0)
    message = (
        f"{len({p.index for p in problems})} of {size} captures are invalid; nothing was stored"
    )
    if refused:
        return UnknownSensors(message, problems, refused)
    return InvalidInput(message, problems)
