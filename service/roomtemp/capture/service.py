"""Ingest: a batch through the rules, attributed to sensors and rooms, stored last-write-wins."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp.capture import queries, rules, sensor_queries
from roomtemp.capture.rules import IngestCounts as IngestCounts
from roomtemp.capture.rules import IngestPolicy as IngestPolicy
from roomtemp.capture.rules import check_batch_size as check_batch_size
from roomtemp.capture.rules import policy_from as policy_from
from roomtemp.capture.schemas import CaptureIn, CaptureItem, SensorCaptureIn
from roomtemp.capture.sensor_queries import SensorRow
from roomtemp.db import locks
from roomtemp.errors import ErrorDetail, Forbidden
from roomtemp.live import service as live
from roomtemp.registry import service as registry
from roomtemp.registry.service import SensorTypeRow
from roomtemp.rollup import service as rollups
from roomtemp.tenancy import EVERY_BUILDING, BuildingScope


async def store_final(
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
    # Live streams hear of it at commit (nothing if this transaction rolls back).
    await live.announce(conn, [(*k, final[k]) for k in changed])
    return replaced


class Storage(enum.Enum):
    """How a batch reaches the capture table; the same rules and counts either way."""

    #: One INSERT … ON CONFLICT with the batch as array parameters (the API's batches).
    UPSERT = "upsert"
    #: Binary COPY into a staging table, then one upsert from it (big API batches, the
    #: importer's chunks).
    COPY = "copy"

    @staticmethod
    def for_batch(size: int) -> Storage:
        """COPY from STAGE_FROM captures on. Below it the staging table's create, COPY and drop
        (three more round trips, catalog writes) cost more than the array parameters' parsing
        saves. Over HTTP (batches over 1,000 rooms, one uvicorn worker, durable PostgreSQL with
        1 M captures; a loaded machine, so ranges): 1,000 captures at 5.7-9.2 req/s staged
        against 8.1-11.0 through the statement (slower in 5 of 5 runs), 2,000 at 5.9 against
        4.8, 4,000 at 4.5 against 3.5, 10,000 at 2.3-2.9 against 1.3-2.0 (issue 19).

        The staged read of the stored values is bounded by the batch's time range; the
        statement path's read through unnest() took 0.6-1.9 s for 300-1,000 captures for a
        while once their partition held 6 M captures (its plan; not seen staged)."""
        return Storage.COPY if size >= STAGE_FROM else Storage.UPSERT


STAGE_FROM = 2000


@dataclass(frozen=True)
class ParsedBatch:
    """Captures as parsed from one request or file chunk, before the domain checks.

    An item that failed parsing is None, with its problems in `problems`. `single`: the body
    was one capture, not an array, so its problems carry no index.
    """

    items: Sequence[CaptureItem | None]
    problems: Sequence[ErrorDetail] = ()
    single: bool = False


@dataclass
class _Checked:
    """A batch after the per-item checks: canonical values (None: invalid) and every problem."""

    items: list[CaptureItem | None]
    values: list[float | None]
    sensor_types: dict[str, SensorTypeRow]
    problems: list[ErrorDetail]
    single: bool
    sensors: dict[str, SensorRow] = field(default_factory=dict)  # the sensor form's keys
    refused: dict[str, int] = field(default_factory=dict)  # captures per unknown sensor key
    attributed: dict[int, int] = field(default_factory=dict)  # sensor form: item → room id

    def index(self, n: int) -> int | None:
        return None if self.single else n

    def valid(self) -> list[CaptureItem]:
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
    """Step 1: the per-item rules (sensor in service, time bounds, sensor type, unit,
    plausible range).

    A valid item costs a lookup of its (type, unit) check and two comparisons of its ts; only
    an item with a problem goes through rules.check_item, which names its problems."""
    check_batch_size(len(batch.items), policy)
    checked = _Checked(list(batch.items), [], {}, list(batch.problems), batch.single)
    sensor_keys = {i.sensor for i in checked.items if isinstance(i, SensorCaptureIn)}
    checked.sensors = await sensor_queries.sensors_by_key(conn, sorted(sensor_keys))
    type_keys = {
        i.sensor_type if isinstance(i, CaptureIn) else rules.type_key_of(i, checked.sensors)
        for i in checked.valid()
    }
    checked.sensor_types = await registry.sensor_types_by_key(
        conn, sorted(k for k in type_keys if k is not None)
    )
    latest = now + policy.max_future_skew
    retention = policy.retention
    oldest = None if retention is None else latest - policy.max_future_skew - retention
    checks: dict[tuple[str, str | None], Callable[[float], float | None] | None] = {}
    values = checked.values
    for n, item in enumerate(checked.items):
        if item is None:
            values.append(None)
            continue
        if isinstance(item, CaptureIn):
            type_key = item.sensor_type
        else:
            in_service = rules.type_key_of(item, checked.sensors)
            if in_service is None:
                checked.problems.append(
                    rules.unknown_sensor(item, checked.sensors, checked.index(n))
                )
                checked.refused[item.sensor] = checked.refused.get(item.sensor, 0) + 1
                values.append(None)
                continue
            type_key = in_service
        value = None
        if item.ts <= latest and (oldest is None or item.ts >= oldest):
            try:
                check = checks[(type_key, item.unit)]
            except KeyError:
                st = checked.sensor_types.get(type_key)
                check = checks[(type_key, item.unit)] = (
                    None if st is None else rules.value_check(st, item.unit)
                )
            if check is not None:
                value = check(item.value)
        if value is None:  # some rule fails: check_item names which
            value = rules.check_item(
                item,
                type_key=type_key,
                index=checked.index(n),
                sensor_types=checked.sensor_types,
                latest=latest,
                policy=policy,
                problems=checked.problems,
            )
        values.append(value)
    return checked


async def _room_ids(
    conn: AsyncConnection, items: Sequence[CaptureItem | None], policy: IngestPolicy
) -> registry.RoomIds:
    # The distinct pairs, in order of first use (what resolve_rooms registers them in).
    pairs = dict.fromkeys((i.building, i.room) for i in items if isinstance(i, CaptureIn))
    return await registry.resolve_rooms(conn, list(pairs), auto_register=policy.auto_register)


async def _resolve_rooms(
    conn: AsyncConnection, checked: _Checked, policy: IngestPolicy
) -> dict[tuple[str, str], int] | None:
    """Step 2: room ids (registering new rooms if allowed); unknown rooms become problems.

    None when skipped: a batch that is already rejected registers nothing, and unknown rooms
    only matter without auto-registration.
    """
    if checked.problems and policy.auto_register:
        return None
    found = await _room_ids(conn, checked.items, policy)
    if found.ids.keys() >= _pairs_named(checked.items):
        return found.ids
    for n, item in enumerate(checked.items):
        if isinstance(item, CaptureIn) and (item.building, item.room) not in found.ids:
            checked.problems.append(found.missing(item.building, item.room, checked.index(n)))
    return found.ids


def _pairs_named(items: Sequence[CaptureItem | None]) -> set[tuple[str, str]]:
    return {(i.building, i.room) for i in items if isinstance(i, CaptureIn)}


async def _attribute(conn: AsyncConnection, checked: _Checked) -> None:
    """Step 2b: the room of each sensor-form capture, where its sensor was at the capture's ts.

    The sensors' locks are held shared from before the assignments are read until commit, so a
    move (which takes them exclusively) cannot change where these captures belong meanwhile."""
    at = [
        (n, checked.sensors[i.sensor].id, i.ts)
        for n, (i, v) in enumerate(zip(checked.items, checked.values, strict=True))
        if isinstance(i, SensorCaptureIn) and v is not None
    ]
    if not at:
        return
    await locks.share_sensors(conn, [a[1] for a in at])
    rooms = await sensor_queries.rooms_at(conn, [a[1] for a in at], [a[2] for a in at])
    for (n, _, ts), room_id in zip(at, rooms, strict=True):
        if room_id is not None:
            checked.attributed[n] = room_id
            continue
        item = checked.items[n]
        assert isinstance(item, SensorCaptureIn)
        checked.problems.append(
            ErrorDetail(
                f"sensor {item.sensor!r} was in no room at {ts.isoformat()}",
                field="ts",
                index=checked.index(n),
                code="sensor_unassigned",
            )
        )


def _status_reports(checked: _Checked) -> list[sensor_queries.StatusReport]:
    """Per sensor, the battery/signal of its newest capture in the batch that carries one."""
    newest: dict[int, sensor_queries.StatusReport] = {}
    for n, item in enumerate(checked.items):
        if not isinstance(item, SensorCaptureIn) or n not in checked.attributed:
            continue
        if item.battery is None and item.signal is None:
            continue
        sid = checked.sensors[item.sensor].id
        if sid not in newest or newest[sid][1] <= item.ts:
            newest[sid] = (sid, item.ts, item.battery, item.signal)
    return [newest[k] for k in sorted(newest)]


async def _final_values(
    conn: AsyncConnection, checked: _Checked, rooms: dict[tuple[str, str], int]
) -> _Final:
    """Step 3: the batch keyed by (room id, sensor id, ts), later items winning.

    The building/room form writes to the room's default sensor of the type (created on first
    use); the sensor form to its sensor, in the room it was attributed to."""
    # (building, room, sensor type) -> (room id, default sensor id), once per distinct triple
    named = {
        (i.building, i.room, i.sensor_type): (
            rooms[(i.building, i.room)],
            checked.sensor_types[i.sensor_type].id,
        )
        for i, v in zip(checked.items, checked.values, strict=True)
        if isinstance(i, CaptureIn) and v is not None
    }
    defaults = await sensor_queries.default_sensor_ids(conn, list(named.values()))
    sensor_of = {
        t: (room_id, defaults[(room_id, type_id)]) for t, (room_id, type_id) in named.items()
    }
    keys: list[queries.CaptureKey] = []
    values: list[float] = []
    for n, (item, value) in enumerate(zip(checked.items, checked.values, strict=True)):
        if value is None:
            continue
        if isinstance(item, CaptureIn):
            room_id, sensor_id = sensor_of[(item.building, item.room, item.sensor_type)]
            keys.append((room_id, sensor_id, item.ts))
            values.append(value)
        elif isinstance(item, SensorCaptureIn) and n in checked.attributed:
            keys.append((checked.attributed[n], checked.sensors[item.sensor].id, item.ts))
            values.append(value)
    final = dict(zip(keys, values, strict=True))
    if len(final) == len(keys):  # no key twice (the common case): each value is the first
        return _Final(final, final)
    result = _Final()
    for key, value in zip(keys, values, strict=True):
        result.add(key, value)
    return result


def _counts(batch: _Final, replaced: dict[queries.CaptureKey, float]) -> IngestCounts:
    """inserted/duplicates/updated from the values the keys had before (first batch value
    compared with the stored one; later values in the batch counted by `_Final.add`)."""
    inserted = duplicates = updated = 0
    for key, first in batch.first.items():
        old = replaced.get(key)
        if old is None:
            inserted += 1
        elif old == first:
            duplicates += 1
        else:
            updated += 1
    return IngestCounts(inserted, duplicates + batch.duplicates, updated + batch.updates)


async def _upsert_rows(conn: AsyncConnection, batch: _Final) -> IngestCounts:
    return _counts(batch, await store_final(conn, batch.final))


async def _upsert_copy(conn: AsyncConnection, batch: _Final) -> IngestCounts:
    """As store_final, with the rows staged by binary COPY: the same rollup merge (append when every
    changed key is new, else recompute), announcements and counts."""
    final = batch.final
    keys = sorted(final)  # the same lock order as store_final
    values = [final[k] for k in keys]
    await queries.lock_rooms(conn, [k[0] for k in keys])
    replaced = await queries.upsert_captures_copy(conn, keys, values)
    if replaced:
        changed = [k for k in keys if replaced.get(k) != final[k]]
        values = [final[k] for k in changed]
    else:  # all new (the common case): no pass over the keys
        changed = keys
    if any(k in replaced for k in changed):
        # A changed value can move a bucket's minimum or maximum either way: recompute.
        await rollups.captures_changed(conn, changed)
    else:
        await rollups.captures_added(conn, changed, values)
    # Live streams hear of it at commit (a big batch as its rooms only: live/payload.py).
    await live.announce(conn, [(*k, v) for k, v in zip(changed, values, strict=True)])
    return _counts(batch, replaced)


async def _upsert(conn: AsyncConnection, batch: _Final, storage: Storage) -> IngestCounts:
    """Step 4: store the final values and update the rollups; the counts of the outcome."""
    if storage is Storage.COPY:
        return await _upsert_copy(conn, batch)
    return await _upsert_rows(conn, batch)


def check_reach(items: Sequence[CaptureItem | None], reach: BuildingScope) -> None:
    """Forbidden (403, nothing stored) when a building/room capture names a building outside
    `reach`: checked before anything is written or auto-registered."""
    if not reach.unlimited:
        reach.check_write(i.building for i in items if isinstance(i, CaptureIn))


async def _check_attributed_reach(
    conn: AsyncConnection, checked: _Checked, reach: BuildingScope
) -> None:
    """Forbidden when a sensor-form capture was attributed to a room outside `reach` (the
    building is not named: the caller may not know where that sensor is)."""
    if reach.unlimited or not checked.attributed:
        return
    buildings = await sensor_queries.building_keys_of_rooms(conn, list(checked.attributed.values()))
    if any(not reach.allows(b) for b in buildings):
        raise Forbidden(
            "a sensor in this batch was, at its capture's ts, in a building this token may not "
            "write to; nothing was stored"
        )


async def ingest(
    conn: AsyncConnection,
    batch: ParsedBatch,
    *,
    policy: IngestPolicy,
    now: datetime,
    storage: Storage | None = None,
    reach: BuildingScope = EVERY_BUILDING,
) -> IngestCounts:
    """Validate the whole batch, then store all of it or nothing (the API's rule).

    `storage`: by default Storage.for_batch(the batch's size).

    Raises InvalidInput listing every bad item by index (no index for a single capture), and
    Forbidden when an item is in a building outside `reach` (the whole batch is refused).
    """
    check_reach(batch.items, reach)
    checked = await _validate(conn, batch, policy, now)
    rooms = await _resolve_rooms(conn, checked, policy)
    if not checked.problems:
        await _attribute(conn, checked)
    if checked.problems or rooms is None:
        raise rules.rejected(checked.problems, len(checked.items), checked.refused)
    await _check_attributed_reach(conn, checked, reach)
    final = await _final_values(conn, checked, rooms)
    counts = await _upsert(conn, final, storage or Storage.for_batch(len(checked.items)))
    await sensor_queries.upsert_status(conn, _status_reports(checked))
    return counts


async def ingest_valid(
    conn: AsyncConnection,
    items: Sequence[CaptureItem],
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
    await _attribute(conn, checked)
    rejected: list[ErrorDetail] = []
    if checked.problems:
        rejected = rules.rejected(checked.problems, len(checked.items)).details
        checked.without_problems()
    if rooms is None:  # skipped above; auto-registration finds every room but renamed keys
        found = await _room_ids(conn, checked.items, policy)
        rooms = found.ids
        for n, item in enumerate(checked.items):
            if isinstance(item, CaptureIn) and (item.building, item.room) not in rooms:
                rejected.append(found.missing(item.building, item.room, n))
                checked.items[n] = None
        rejected.sort(key=lambda p: p.index or 0)
    # The chunk commits what is valid, so the refused keys are recorded with it.
    await sensor_queries.record_unknown(conn, checked.refused, now)
    counts = await _upsert(conn, await _final_values(conn, checked, rooms), storage)
    await sensor_queries.upsert_status(conn, _status_reports(checked))
    return counts, rejected


@dataclass(frozen=True)
class SingleCapture:
    """One single-capture request waiting to be stored together with others."""

    item: CaptureIn
    now: datetime


async def record_refused(conn: AsyncConnection, refused: dict[str, int], now: datetime) -> None:
    """Record the sensor keys a rejected request named but nobody registered (the caller runs
    this in a transaction of its own, after the request's rolled back)."""
    await sensor_queries.record_unknown(conn, refused, now)
