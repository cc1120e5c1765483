"""Ingest rules: validation of every item, unit conversion, idempotent last-write-wins storage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp import units
from roomtemp.capture import queries
from roomtemp.capture.schemas import CaptureIn
from roomtemp.errors import ErrorDetail, InvalidInput, PayloadTooLarge
from roomtemp.registry import service as registry
from roomtemp.rollup import service as rollups
from roomtemp.registry.service import SensorTypeRow


@dataclass(frozen=True)
class IngestPolicy:
    auto_register: bool
    max_batch_size: int
    max_future_skew: timedelta


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


def _canonical_value(
    item: CaptureIn, st: SensorTypeRow, index: int | None, problems: list[ErrorDetail]
) -> float | None:
    """The value in the sensor type's canonical unit, or None after recording why not."""
    unit = units.normalise(item.unit) if item.unit is not None else st.unit
    try:
        value = units.convert(item.value, unit, st.unit)
    except units.UnitError:
        allowed = (
            ", ".join(units.TEMPERATURE_UNITS) if st.unit in units.TEMPERATURE_UNITS else st.unit
        )
        problems.append(
            ErrorDetail(
                f"unit {item.unit!r} is not valid for sensor type {st.key!r} (use {allowed})",
                field="unit",
                index=index,
                code="bad_unit",
            )
        )
        return None
    if st.unit in units.TEMPERATURE_UNITS and units.to_kelvin(value, st.unit) < 0:
        problems.append(
            ErrorDetail(
                f"{item.value} {unit} is below absolute zero",
                field="value",
                index=index,
                code="below_absolute_zero",
            )
        )
        return None
    if not st.min_value <= value <= st.max_value:
        problems.append(
            ErrorDetail(
                f"{item.value} {unit} is outside the plausible range of {st.key!r} "
                f"({st.min_value:g} … {st.max_value:g} {st.unit}); check the unit",
                field="value",
                index=index,
                code="implausible_value",
            )
        )
        return None
    return value


async def ingest(
    conn: AsyncConnection,
    items: Sequence[CaptureIn | None],
    policy: IngestPolicy,
    now: datetime,
    *,
    single: bool = False,
    problems: Sequence[ErrorDetail] = (),
) -> IngestCounts:
    """Validate the whole batch, then store all of it or nothing.

    `items` that already failed validation are None, with their `problems` given. Raises
    InvalidInput listing every bad item by index (no index for a single capture).
    """
    check_batch_size(len(items), policy)
    problems = list(problems)
    valid = [i for i in items if i is not None]
    sensor_types = await registry.sensor_types_by_key(conn, sorted({i.sensor_type for i in valid}))
    latest = now + policy.max_future_skew
    values: list[float | None] = []
    for n, item in enumerate(items):
        index = None if single else n
        if item is None:
            values.append(None)
            continue
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
        st = sensor_types.get(item.sensor_type)
        if st is None:
            problems.append(
                ErrorDetail(
                    f"unknown sensor type {item.sensor_type!r}",
                    field="sensor_type",
                    index=index,
                    code="unknown_sensor_type",
                )
            )
            values.append(None)
            continue
        values.append(_canonical_value(item, st, index, problems))

    # A batch that is already rejected registers nothing; unknown rooms only matter without
    # auto-registration.
    rooms: dict[tuple[str, str], int] = {}
    check_rooms = not (problems and policy.auto_register)
    if check_rooms:
        pairs = [(i.building, i.room) for i in valid]
        rooms = await registry.room_ids(conn, pairs, auto_register=policy.auto_register)
    for n, item in enumerate(items):
        if check_rooms and item is not None and (item.building, item.room) not in rooms:
            problems.append(
                ErrorDetail(
                    f"unknown room {item.room!r} in building {item.building!r} "
                    "(auto-registration is off)",
                    field="room",
                    index=None if single else n,
                    code="unknown_room",
                )
            )
    if problems:
        problems.sort(key=lambda p: p.index or 0)
        raise InvalidInput(
            f"{len({p.index for p in problems})} of {len(items)} captures are invalid; "
            "nothing was stored",
            problems,
        )

    keyed = [
        ((rooms[(i.building, i.room)], sensor_types[i.sensor_type].id, i.ts), v)
        for i, v in zip(items, values, strict=True)
        if i is not None and v is not None
    ]
    # Later items in a batch win over earlier ones with the same key, as if posted one by one;
    # only the first occurrence of a key is compared with what was stored before.
    final: dict[queries.CaptureKey, float] = {}
    first: dict[queries.CaptureKey, float] = {}
    chain_duplicates = chain_updates = 0
    for key, value in keyed:
        if key not in final:
            first[key] = value
        elif final[key] == value:
            chain_duplicates += 1
        else:
            chain_updates += 1
        final[key] = value

    keys = list(final)
    replaced = await queries.upsert_captures(
        conn,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [final[k] for k in keys],
    )
    await rollups.captures_changed(conn, [k for k in keys if replaced.get(k) != final[k]])
    inserted = duplicates = updated = 0
    for key in keys:
        old = replaced.get(key)
        if old is None:
            inserted += 1
        elif old == first[key]:
            duplicates += 1
        else:
            updated += 1
    return IngestCounts(inserted, duplicates + chain_duplicates, updated + chain_updates)
