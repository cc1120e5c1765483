"""Ingest rules: validation of every item, unit conversion, idempotent last-write-wins storage."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp import units
from roomtemp.capture import queries, sensor_queries
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
    *,
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


class Storage(enum.Enum):
    """How a batch reaches the capture table; the same rules and counts either way."""

    #: One INSERT … ON CONFLICT with the batch as array parameters (the API's batches).
    UPSERT = "upsert"
    #: Binary COPY into a staging table, then one upsert from it (the importer's big chunks).
    COPY = "copy"


@dataclass(frozen=True)
class ParsedBatch:
    """Captures as parsed from one request or file chunk, before the domain checks.

    An item that failed parsing is None, with its problems in `problems`. `single`: the body
    was one capture, not an array, so its problems carry no index.
    """

    items: Sequence[CaptureIn | None]
    problems: Sequence[ErrorDetail] = ()
    single: bool = False


@dataclass
class _Checked:
    """A batch after the per-item checks: canonical values (None: invalid) and every problem."""

    items: list[CaptureIn | None]
    values: list[float | None]
    sensor_types: dict[str, SensorTypeRow]
    problems: list[ErrorDetail]
    single: bool

    def index(self, n: int) -> int | None:
        return None if self.single else n

    def valid(self) -> list[CaptureIn]:
        return [i for i in self.items if i is not None]

    def without_problems(self) -> None:
        """Drop the items that have a problem (the importer sets them aside)."""
        bad = {p.index for p in self.problems}
        self.items = [None if n in bad else i for n, i in enumerate(self.items)]


@dataclass
class _Final:
    """The value each key ends with, the first value the batch gave it, and the in-batch counts.

    Later items in a batch win over earlier ones with the same key, as if posted one by one;
    only the first occurrence of a key is compared with what was stored before.
    """

    final: dict[queries.CaptureKey, float] = field(default_factory=dict)
    first: dict[queries.CaptureKey, float] = field(default_factory=dict)
    duplicates: int = 0
    updates: int = 0

    def add(self, key: queries.CaptureKey, value: float) -> None:
        if key not in self.final:
            self.first[key] = value
        elif self.final[key] == value:
            self.duplicates += 1
        else:
            self.updates += 1
        self.final[key] = value


async def _validate(
    conn: AsyncConnection, batch: ParsedBatch, policy: IngestPolicy, now: datetime
) -> _Checked:
    """Step 1: the per-item rules (time bounds, sensor type, unit, plausible range)."""
    check_batch_size(len(batch.items), policy)
    checked = _Checked(list(batch.items), [], {}, list(batch.problems), batch.single)
    keys = sorted({i.sensor_type for i in checked.valid()})
    checked.sensor_types = await registry.sensor_types_by_key(conn, keys)
    latest = now + policy.max_future_skew
    for n, item in enumerate(checked.items):
        checked.values.append(
            None
            if item is None
            else _check_item(
                item,
                index=checked.index(n),
                sensor_types=checked.sensor_types,
                latest=latest,
                policy=policy,
                problems=checked.problems,
            )
        )
    return checked


async def _room_ids(
    conn: AsyncConnection, items: Sequence[CaptureIn | None], policy: IngestPolicy
) -> dict[tuple[str, str], int]:
    pairs = [(i.building, i.room) for i in items if i is not None]
    return await registry.room_ids(conn, pairs, auto_register=policy.auto_register)


async def _resolve_rooms(
    conn: AsyncConnection, checked: _Checked, policy: IngestPolicy
) -> dict[tuple[str, str], int] | None:
    """Step 2: room ids (registering new rooms if allowed); unknown rooms become problems.

    None when skipped: a batch that is already rejected registers nothing, and unknown rooms
    only matter without auto-registration.
    """
    if checked.problems and policy.auto_register:
        return None
    rooms = await _room_ids(conn, checked.items, policy)
    for n, item in enumerate(checked.items):
        if item is not None and (item.building, item.room) not in rooms:
            checked.problems.append(_unknown_room(item, checked.index(n)))
    return rooms


async def _final_values(
    conn: AsyncConnection, checked: _Checked, rooms: dict[tuple[str, str], int]
) -> _Final:
    """Step 3: the batch keyed by (room id, sensor id, ts), later items winning.

    The building/room form writes to the room's default sensor of the type (created on first
    use)."""
    pairs = [
        (rooms[(i.building, i.room)], checked.sensor_types[i.sensor_type].id)
        for i, v in zip(checked.items, checked.values, strict=True)
        if i is not None and v is not None
    ]
    sensors = await sensor_queries.default_sensor_ids(conn, pairs)
    result = _Final()
    for item, value in zip(checked.items, checked.values, strict=True):
        if item is not None and value is not None:
            room_id = rooms[(item.building, item.room)]
            sensor_id = sensors[(room_id, checked.sensor_types[item.sensor_type].id)]
            result.add((room_id, sensor_id, item.ts), value)
    return result


async def _upsert_rows(conn: AsyncConnection, batch: _Final) -> IngestCounts:
    replaced = await _store(conn, batch.final)
    inserted = duplicates = updated = 0
    for key in batch.final:
        old = replaced.get(key)
        if old is None:
            inserted += 1
        elif old == batch.first[key]:
            duplicates += 1
        else:
            updated += 1
    return IngestCounts(inserted, duplicates + batch.duplicates, updated + batch.updates)


async def _upsert_copy(conn: AsyncConnection, batch: _Final) -> IngestCounts:
    final, first = batch.final, batch.first
    keys = sorted(final)  # the same lock order as _store
    await queries.lock_rooms(conn, [k[0] for k in keys])
    result = await queries.upsert_captures_copy(conn, [(*k, final[k], first[k]) for k in keys])
    await rollups.captures_changed(conn, result.changed_buckets)
    return IngestCounts(
        result.inserted, result.duplicates + batch.duplicates, result.updated + batch.updates
    )


async def _upsert(conn: AsyncConnection, batch: _Final, storage: Storage) -> IngestCounts:
    """Step 4: store the final values and update the rollups; the counts of the outcome."""
    if storage is Storage.COPY:
        return await _upsert_copy(conn, batch)
    return await _upsert_rows(conn, batch)


async def ingest(
    conn: AsyncConnection,
    batch: ParsedBatch,
    *,
    policy: IngestPolicy,
    now: datetime,
    storage: Storage = Storage.UPSERT,
) -> IngestCounts:
    """Validate the whole batch, then store all of it or nothing (the API's rule).

    Raises InvalidInput listing every bad item by index (no index for a single capture).
    """
    checked = await _validate(conn, batch, policy, now)
    rooms = await _resolve_rooms(conn, checked, policy)
    if checked.problems or rooms is None:
        raise _rejected(checked.problems, len(checked.items))
    return await _upsert(conn, await _final_values(conn, checked, rooms), storage)


async def ingest_valid(
    conn: AsyncConnection,
    items: Sequence[CaptureIn],
    *,
    policy: IngestPolicy,
    now: datetime,
    storage: Storage = Storage.COPY,
) -> tuple[IngestCounts, list[ErrorDetail]]:
    """Store the valid items of a batch and set the others aside (the importer's rule).

    Returns the counts and the problems of the items left out, sorted by index: one pass over
    a chunk with bad rows rather than a retry without them.
    """
    checked = await _validate(conn, ParsedBatch(items), policy, now)
    rooms = await _resolve_rooms(conn, checked, policy)
    rejected: list[ErrorDetail] = []
    if checked.problems:
        rejected = _rejected(checked.problems, len(checked.items)).details
        checked.without_problems()
    if rooms is None:  # skipped above; with auto-registration every room is found
        rooms = await _room_ids(conn, checked.items, policy)
    return await _upsert(conn, await _final_values(conn, checked, rooms), storage), rejected


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
            r.item,
            index=None,
            sensor_types=sensor_types,
            latest=r.now + policy.max_future_skew,
            policy=policy,
            problems=problems,
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
    sensors = await sensor_queries.default_sensor_ids(
        conn,
        [
            (rooms[(r.item.building, r.item.room)], sensor_types[r.item.sensor_type].id)
            for r, v in zip(requests, values, strict=True)
            if v is not None and (r.item.building, r.item.room) in rooms
        ],
    )
    final: dict[queries.CaptureKey, float] = {}
    order: list[tuple[int, queries.CaptureKey, float]] = []
    for n, (r, value) in enumerate(zip(requests, values, strict=True)):
        if value is None:
            continue
        room_id = rooms.get((r.item.building, r.item.room))
        if room_id is None:
            outcome[n] = _rejected([_unknown_room(r.item, None)], 1)
            continue
        key = (room_id, sensors[(room_id, sensor_types[r.item.sensor_type].id)], r.item.ts)
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
