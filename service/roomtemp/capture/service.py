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
from roomtemp.registry.service import SensorTypeRow
from roomtemp.rollup import service as rollups
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


def _canonical_value(
    item: CaptureIn, sensor_type: SensorTypeRow, index: int | None, problems: list[ErrorDetail]
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


def _check_item(
    item: CaptureIn,
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
        return None
    return _canonical_value(item, st, index, problems)


def _unknown_room(item: CaptureIn, index: int | None) -> ErrorDetail:
    return ErrorDetail(
        f"unknown room {item.room!r} in building {item.building!r} (auto-registration is off)",
        field="room",
        index=index,
        code="unknown_room",
    )


def _rejected(problems: list[ErrorDetail], size: int) -> InvalidInput:
    problems.sort(key=lambda p: p.index or 0)
    return InvalidInput(
        f"{len({p.index for p in problems})} of {size} captures are invalid; nothing was stored",
        problems,
    )


async def _store(
    conn: AsyncConnection, final: dict[queries.CaptureKey, float]
) -> dict[queries.CaptureKey, float]:
    """Upsert the final value of each key and refresh its rollups; the values replaced."""
    keys = sorted(final)  # one lock order for every transaction: no deadlocks between batches
    await queries.lock_rooms(conn, [k[0] for k in keys])
    replaced = await queries.upsert_captures(
        conn,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [final[k] for k in keys],
    )
    changed = [k for k in keys if replaced.get(k) != final[k]]
    if any(k in replaced for k in changed):
        # A changed value can move a bucket's minimum or maximum either way: recompute.
        await rollups.captures_changed(conn, changed)
    else:
        await rollups.captures_added(conn, changed, [final[k] for k in changed])
    return replaced


async def ingest(
    conn: AsyncConnection,
    items: Sequence[CaptureIn | None],
    policy: IngestPolicy,
    now: datetime,
    *,
    single: bool = False,
    problems: Sequence[ErrorDetail] = (),
    staged: bool = False,
    rejected: list[ErrorDetail] | None = None,
) -> IngestCounts:
    """Validate the whole batch, then store all of it or nothing.

    `items` that already failed validation are None, with their `problems` given. Raises
    InvalidInput listing every bad item by index (no index for a single capture). `staged`
    stores through COPY into a staging table (same rules and counts; faster for big batches).
    Given a `rejected` list, bad items are left out and their problems appended to it instead
    (the importer: one pass over a chunk with bad rows rather than a retry without them).
    """
    check_batch_size(len(items), policy)
    problems = list(problems)
    valid = [i for i in items if i is not None]
    sensor_types = await registry.sensor_types_by_key(conn, sorted({i.sensor_type for i in valid}))
    latest = now + policy.max_future_skew
    values: list[float | None] = []
    for n, item in enumerate(items):
        if item is None:
            values.append(None)
            continue
        index = None if single else n
        values.append(_check_item(item, index, sensor_types, latest, policy, problems))

    # A batch that is already rejected registers nothing; unknown rooms only matter without
    # auto-registration.
    rooms: dict[tuple[str, str], int] = {}
    check_rooms = not (problems and policy.auto_register)
    if check_rooms:
        pairs = [(i.building, i.room) for i in valid]
        rooms = await registry.room_ids(conn, pairs, auto_register=policy.auto_register)
    for n, item in enumerate(items):
        if check_rooms and item is not None and (item.building, item.room) not in rooms:
            problems.append(_unknown_room(item, None if single else n))
    if problems:
        error = _rejected(problems, len(items))
        if rejected is None:
            raise error
        rejected.extend(error.details)
        bad = {p.index for p in problems}
        items = [None if n in bad else i for n, i in enumerate(items)]
        if not check_rooms:  # skipped above; with auto-registration every room is found
            pairs = [(i.building, i.room) for i in items if i is not None]
            rooms = await registry.room_ids(conn, pairs, auto_register=policy.auto_register)

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

    if staged:
        keys = sorted(final)  # the same lock order as _store
        await queries.lock_rooms(conn, [k[0] for k in keys])
        result = await queries.upsert_captures_copy(conn, [(*k, final[k], first[k]) for k in keys])
        await rollups.captures_changed(conn, result.changed_buckets)
        return IngestCounts(
            result.inserted,
            result.duplicates + chain_duplicates,
            result.updated + chain_updates,
        )
    replaced = await _store(conn, final)
    inserted = duplicates = updated = 0
    for key in final:
        old = replaced.get(key)
        if old is None:
            inserted += 1
        elif old == first[key]:
            duplicates += 1
        else:
            updated += 1
    return IngestCounts(inserted, duplicates + chain_duplicates, updated + chain_updates)


@dataclass(frozen=True)
class SingleCapture:
    """One single-capture request waiting to be stored together with others."""

    item: CaptureIn
    now: datetime


async def ingest_each(
    conn: AsyncConnection, requests: Sequence[SingleCapture], policy: IngestPolicy
) -> list[IngestCounts | InvalidInput]:
    """Store many single-capture requests in one transaction, each judged on its own.

    The answer for each request is what posting it alone, in this order, would have given: an
    invalid capture gets its own InvalidInput and stores nothing, the others are stored; a key
    posted twice counts against the earlier request's value.
    """
    sensor_types = await registry.sensor_types_by_key(
        conn, sorted({r.item.sensor_type for r in requests})
    )
    outcome: list[IngestCounts | InvalidInput | None] = [None] * len(requests)
    values: list[float | None] = []
    for n, r in enumerate(requests):
        problems: list[ErrorDetail] = []
        value = _check_item(
            r.item, None, sensor_types, r.now + policy.max_future_skew, policy, problems
        )
        values.append(None if problems else value)
        if problems:
            outcome[n] = _rejected(problems, 1)
    pairs = [
        (r.item.building, r.item.room)
        for r, v in zip(requests, values, strict=True)
        if v is not None
    ]
    rooms = await registry.room_ids(conn, pairs, auto_register=policy.auto_register)
    final: dict[queries.CaptureKey, float] = {}
    order: list[tuple[int, queries.CaptureKey, float]] = []
    for n, (r, value) in enumerate(zip(requests, values, strict=True)):
        if value is None:
            continue
        room_id = rooms.get((r.item.building, r.item.room))
        if room_id is None:
            outcome[n] = _rejected([_unknown_room(r.item, None)], 1)
            continue
        key = (room_id, sensor_types[r.item.sensor_type].id, r.item.ts)
        final[key] = value
        order.append((n, key, value))
    before = dict(await _store(conn, final)) if final else {}
    for n, key, value in order:
        old = before.get(key)
        if old is None:
            outcome[n] = IngestCounts(1, 0, 0)
        elif old == value:
            outcome[n] = IngestCounts(0, 1, 0)
        else:
            outcome[n] = IngestCounts(0, 0, 1)
        before[key] = value
    done = [o for o in outcome if o is not None]
    assert len(done) == len(requests)
    return done
