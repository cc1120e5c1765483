"""HTTP endpoints of the registry: buildings, rooms, sensor types."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from roomtemp.api import API_PREFIX
from roomtemp.api.auth import EVERY_BUILDING_ONLY, AuthFirstRoute, Reach
from roomtemp.api.deps import (
    DEFAULT_PAGE,
    Cursor,
    Limit,
    Now,
    PathKey,
    ReadConnection,
    State,
    Transaction,
)
from roomtemp.api.responses import json_response
from roomtemp.registry import service
from roomtemp.registry.schemas import (
    BuildingIn,
    BuildingOut,
    BuildingPage,
    KeyPatch,
    RoomIn,
    RoomOut,
    RoomPage,
    SensorTypeIn,
    SensorTypeOut,
    SensorTypePage,
)

router = APIRouter(prefix=API_PREFIX, tags=["registry"], route_class=AuthFirstRoute)
_CREATED: dict[int | str, dict[str, Any]] = {201: {"description": "Created"}}


def _put_answer(model: BaseModel, created: bool) -> Response:
    return json_response(model, status_code=201 if created else 200)


def _effective(row: service.BuildingRow, state: State) -> service.BuildingRow:
    # Answers carry the zone series and reports use: a NULL column follows DEFAULT_TIME_ZONE.
    return replace(row, time_zone=service.time_zone_of(row, state.settings.default_time_zone))


@router.get("/buildings", response_model=BuildingPage)
async def list_buildings(
    conn: ReadConnection,
    state: State,
    reach: Reach,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> Response:
    """Buildings in key order, one page at a time (a token limited to buildings: just those)."""
    rows, nxt = await service.list_buildings(conn, cursor, limit, reach)
    return json_response(BuildingPage.of([_effective(r, state) for r in rows], nxt))


@router.get(
    "/buildings/{building}",
    responses={404: {"description": "Unknown building"}},
    response_model=BuildingOut,
)
async def get_building(building: PathKey, conn: ReadConnection, state: State) -> Response:
    """One building."""
    return json_response(
        BuildingOut.of(_effective(await service.get_building(conn, building), state))
    )


@router.put("/buildings/{building}", responses=_CREATED, response_model=BuildingOut)
async def put_building(
    building: PathKey, body: BuildingIn, conn: Transaction, state: State
) -> Response:
    """Create a building (201) or replace its name and time zone (200).

    `time_zone` is an IANA name (e.g. Europe/Zurich); null or absent: DEFAULT_TIME_ZONE. Like
    `name`, a PUT without it resets it to the default.
    """
    row, created = await service.put_building(conn, building, body.name, body.time_zone)
    return _put_answer(BuildingOut.of(_effective(row, state)), created)


_RENAME: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown (or renamed away: the message names the new key)"},
    409: {"description": "key_exists: the new key is taken"},
}


@router.patch("/buildings/{building}", responses=_RENAME, response_model=BuildingOut)
async def rename_building(
    building: PathKey, body: KeyPatch, conn: Transaction, state: State, now: Now
) -> Response:
    """Rename a building's key. The old key is refused from then on (404 naming the new key;
    captures sent with it are refused, never auto-registered) until a PUT creates a building
    with it again. Rooms, sensors, captures and rollups keep their ids: nothing else moves."""
    row = await service.rename_building(conn, building, body.key, now)
    return json_response(BuildingOut.of(_effective(row, state)))


@router.get(
    "/buildings/{building}/rooms",
    responses={404: {"description": "Unknown building"}},
    response_model=RoomPage,
)
async def list_rooms(
    building: PathKey, conn: ReadConnection, limit: Limit = DEFAULT_PAGE, cursor: Cursor = None
) -> Response:
    """Rooms of a building in key order, one page at a time."""
    rows, nxt = await service.list_rooms(conn, building, cursor=cursor, limit=limit)
    return json_response(RoomPage.of(rows, nxt))


@router.get(
    "/buildings/{building}/rooms/{room}",
    responses={404: {"description": "Unknown"}},
    response_model=RoomOut,
)
async def get_room(building: PathKey, room: PathKey, conn: ReadConnection) -> Response:
    """One room."""
    return json_response(RoomOut.of(await service.get_room(conn, building, room)))


@router.put(
    "/buildings/{building}/rooms/{room}",
    responses={**_CREATED, 404: {"description": "Unknown building"}},
    response_model=RoomOut,
)
async def put_room(building: PathKey, room: PathKey, body: RoomIn, conn: Transaction) -> Response:
    """Create a room in an existing building (201) or rename it (200)."""
    row, created = await service.put_room(conn, building, room, name=body.name)
    return _put_answer(RoomOut.of(row), created)


@router.patch("/buildings/{building}/rooms/{room}", responses=_RENAME, response_model=RoomOut)
async def rename_room(
    building: PathKey, room: PathKey, body: KeyPatch, conn: Transaction, now: Now
) -> Response:
    """Rename a room's key, with the same rule as for buildings: the old key is refused from
    then on (404 naming the new key; captures sent with it are refused)."""
    return json_response(RoomOut.of(await service.rename_room(conn, building, room, body.key, now)))


@router.get("/sensor-types", response_model=SensorTypePage)
async def list_sensor_types(
    conn: ReadConnection, limit: Limit = DEFAULT_PAGE, cursor: Cursor = None
) -> Response:
    """Sensor types in key order, one page at a time."""
    rows, nxt = await service.list_sensor_types(conn, cursor, limit)
    return json_response(SensorTypePage.of(rows, nxt))


@router.get(
    "/sensor-types/{key}",
    responses={404: {"description": "Unknown sensor type"}},
    response_model=SensorTypeOut,
)
async def get_sensor_type(key: PathKey, conn: ReadConnection) -> Response:
    """One sensor type."""
    return json_response(SensorTypeOut.of(await service.get_sensor_type(conn, key)))


@router.put(
    "/sensor-types/{key}",
    responses={**_CREATED, 409: {"description": "Unit change on a type with captures"}},
    response_model=SensorTypeOut,
    dependencies=[EVERY_BUILDING_ONLY],  # a type's range and unit apply to every building
)
async def put_sensor_type(key: PathKey, body: SensorTypeIn, conn: Transaction) -> Response:
    """Register a sensor type (201) or update it (200). Its unit is fixed once it has captures."""
    row, created = await service.put_sensor_type(
        conn,
        key,
        unit=body.unit,
        min_value=body.min_value,
        max_value=body.max_value,
        description=body.description,
    )
    return _put_answer(SensorTypeOut.of(row), created)
