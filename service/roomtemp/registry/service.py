"""Registry rules: keys, units of sensor types, auto-registration of rooms."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from roomtemp import timegrid, units
from roomtemp.errors import Conflict, ErrorDetail, InvalidInput, NotFound
from roomtemp.keys import is_valid_key
from roomtemp.pagination import decode_key_cursor, next_cursor
from roomtemp.registry import queries
from roomtemp.registry.queries import BuildingRow, RoomRow, SensorTypeRow
from roomtemp.tenancy import EVERY_BUILDING, BuildingScope, unknown_building

__all__ = ["BuildingRow", "RoomRow", "SensorTypeRow"]


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


Keyed = TypeVar("Keyed", bound=_Keyed)


def _page(rows: list[Keyed], limit: int) -> tuple[list[Keyed], str | None]:
    """A page of rows in key order, with the cursor to the next one (None on the last)."""
    return rows, next_cursor([r.key for r in rows], limit)


async def sensor_types_by_key(
    conn: AsyncConnection, keys: Sequence[str]
) -> dict[str, SensorTypeRow]:
    return {st.key: st for st in await queries.select_sensor_types_by_key(conn, keys)}


async def get_sensor_type(conn: AsyncConnection, key: str) -> SensorTypeRow:
    found = await sensor_types_by_key(conn, [key])
    if key not in found:
        raise NotFound(f"sensor type {key!r} does not exist")
    return found[key]


async def sensor_type_for_query(conn: AsyncConnection, key: str) -> SensorTypeRow:
    """The sensor type named in a query parameter: unknown is a bad parameter (422)."""
    found = await sensor_types_by_key(conn, [key])
    if key not in found:
        raise InvalidInput(
            f"unknown sensor type {key!r}",
            [ErrorDetail(f"sensor type {key!r} does not exist", field="sensor_type")],
        )
    return found[key]


async def list_sensor_types(
    conn: AsyncConnection, cursor: str | None, limit: int
) -> tuple[list[SensorTypeRow], str | None]:
    return _page(
        await queries.select_sensor_types_page(conn, decode_key_cursor(cursor), limit), limit
    )


async def put_sensor_type(
    conn: AsyncConnection,
    key: str,
    *,
    unit: str,
    min_value: float,
    max_value: float,
    description: str,
) -> tuple[SensorTypeRow, bool]:
    """Create or update a sensor type. Its unit cannot change once it has captures."""
    canonical = units.normalise(unit)
    problems: list[ErrorDetail] = []
    if not (math.isfinite(min_value) and math.isfinite(max_value)) or min_value >= max_value:
        problems.append(ErrorDetail("min_value must be below max_value", field="min_value"))
    elif units.below_absolute_zero(min_value, canonical):
        problems.append(ErrorDetail("min_value is below absolute zero", field="min_value"))
    if problems:
        raise InvalidInput("invalid sensor type", problems)
    existing = (await sensor_types_by_key(conn, [key])).get(key)
    if (
        existing is not None
        and existing.unit != canonical
        and await queries.sensor_type_has_captures(conn, existing.id)
    ):
        raise Conflict(
            f"sensor type {key!r} has captures stored in {existing.unit!r}; its unit cannot change"
        )
    return await queries.upsert_sensor_type(conn, key, canonical, min_value, max_value, description)


async def _not_found(conn: AsyncConnection, what: str, building: str, room: str = "") -> NotFound:
    """404 for a missing building or room; a key renamed away says what it is called now."""
    renamed = (await queries.select_renames(conn, [(building, room)])).get((building, room))
    return NotFound(f"{renamed}: use the new key" if renamed else what)


async def get_building(conn: AsyncConnection, key: str) -> BuildingRow:
    row = await queries.select_building(conn, key)
    if row is None:
        raise await _not_found(conn, str(unknown_building(key)), key)
    return row


async def list_buildings(
    conn: AsyncConnection, cursor: str | None, limit: int, reach: BuildingScope = EVERY_BUILDING
) -> tuple[list[BuildingRow], str | None]:
    """A page of the buildings `reach` covers, in key order."""
    rows = await queries.select_buildings_page(
        conn, decode_key_cursor(cursor), limit, reach.sql_keys()
    )
    return _page(rows, limit)


async def put_building(
    conn: AsyncConnection, key: str, name: str | None, time_zone: str | None = None
) -> tuple[BuildingRow, bool]:
    """Create or replace a building: its name (default: the key) and IANA time zone (default:
    None, which follows the DEFAULT_TIME_ZONE setting)."""
    if time_zone is not None:
        timegrid.zone(time_zone, "time_zone")  # InvalidInput (422) naming the field
    created = await queries.upsert_building(conn, key, name or key, time_zone)
    if created:  # an old key given again on purpose names this new building from now on
        await queries.forget_building_rename(conn, key)
    return await get_building(conn, key), created


def time_zone_of(b: BuildingRow, default: str) -> str:
    """The building's effective time zone: its own, else the DEFAULT_TIME_ZONE setting."""
    return b.time_zone or default


def zone_for(b: BuildingRow, tz: str | None, default: str) -> ZoneInfo:
    """The zone of a read on building `b`: the `tz` parameter (422 on tz when unknown), else
    the building's, else DEFAULT_TIME_ZONE."""
    return timegrid.resolve_zone(tz, b.time_zone, default)


async def get_room(conn: AsyncConnection, building_key: str, room_key: str) -> RoomRow:
    row = await queries.select_room(conn, building_key, room_key)
    if row is None:
        await get_building(conn, building_key)  # says which of the two is missing
        raise await _not_found(
            conn,
            f"room {room_key!r} does not exist in building {building_key!r}",
            building_key,
            room_key,
        )
    return row


async def list_rooms(
    conn: AsyncConnection, building_key: str, *, cursor: str | None, limit: int
) -> tuple[list[RoomRow], str | None]:
    b = await get_building(conn, building_key)
    return _page(
        await queries.select_rooms_page(conn, b.id, decode_key_cursor(cursor), limit), limit
    )


async def put_room(
    conn: AsyncConnection, building_key: str, room_key: str, *, name: str | None
) -> tuple[RoomRow, bool]:
    b = await get_building(conn, building_key)
    created = await queries.upsert_room(conn, b.id, room_key, name or room_key)
    if created:
        await queries.forget_room_rename(conn, b.id, room_key)
    return await get_room(conn, building_key, room_key), created


def _check_new_key(key: str) -> None:
    if not is_valid_key(key):
        raise InvalidInput("invalid key", [ErrorDetail("not a valid key", field="key")])


async def rename_building(conn: AsyncConnection, key: str, new: str, now: datetime) -> BuildingRow:
    """Give a building a new key. The old one is refused from then on (404 naming the new key;
    ingest never auto-registers it again) until a PUT creates a building with it on purpose."""
    _check_new_key(new)
    b = await get_building(conn, key)
    if new != key:
        if await queries.select_building(conn, new) is not None:
            raise Conflict(f"building {new!r} exists already", code="key_exists")
        await queries.rename_building(conn, b.id, key, new, now)
    return await get_building(conn, new)


async def rename_room(
    conn: AsyncConnection, building_key: str, room_key: str, new: str, now: datetime
) -> RoomRow:
    """Give a room a new key in its building; the old one is refused as for buildings."""
    _check_new_key(new)
    row = await get_room(conn, building_key, room_key)
    if new != room_key:
        if await queries.select_room(conn, building_key, new) is not None:
            raise Conflict(
                f"room {new!r} exists already in building {building_key!r}", code="key_exists"
            )
        b = await get_building(conn, building_key)
        await queries.rename_room(conn, b.id, row.id, room_key, new, now)
    return await get_room(conn, building_key, new)


@dataclass(frozen=True)
class RoomIds:
    """What a set of (building, room) pairs resolved to."""

    #: the id of each pair whose room exists
    ids: dict[tuple[str, str], int]
    #: the pairs' buildings that exist (a missing pair whose building is here lacks its room)
    buildings: frozenset[str]
    #: missing pairs whose building or room key was renamed away: the sentence saying to what
    renamed: dict[tuple[str, str], str] = field(default_factory=dict)

    def missing(self, building: str, room: str, index: int | None = None) -> ErrorDetail:
        """The problem of a pair that did not resolve, on the field that is wrong: `building`
        when that does not exist either, else `room`. A key renamed away is never
        auto-registered again: its problem says the new key."""
        why = self.renamed.get((building, room))
        if why is not None:
            return ErrorDetail(
                f"{why}; send the new key",
                field="building" if building not in self.buildings else "room",
                index=index,
                code="renamed_key",
            )
        if building not in self.buildings:
            return ErrorDetail(
                f"unknown building {building!r} (auto-registration is off)",
                field="building",
                index=index,
                code="unknown_building",
            )
        return ErrorDetail(
            f"unknown room {room!r} in building {building!r} (auto-registration is off)",
            field="room",
            index=index,
            code="unknown_room",
        )


async def resolve_rooms(
    conn: AsyncConnection, pairs: Sequence[tuple[str, str]], *, auto_register: bool
) -> RoomIds:
    """Ids of the (building, room) pairs; with auto_register, missing ones are created first.

    One statement finds the rooms and their buildings alike (three more when rooms are created).
    """
    unique = list(dict.fromkeys(pairs))
    found = await queries.select_room_ids(conn, unique)
    missing = [p for p in unique if found.get(p) is None]
    # Only when some pair is missing: the common batch names known rooms and pays nothing.
    renamed = await queries.select_renames(conn, missing) if missing else {}
    creatable = [p for p in missing if p not in renamed]
    if auto_register and creatable:
        await queries.insert_missing_rooms(conn, creatable)
        found = await queries.select_room_ids(conn, unique)
    return RoomIds(
        {p: room_id for p, room_id in found.items() if room_id is not None},
        frozenset(b for b, _ in found),
        renamed,
    )
