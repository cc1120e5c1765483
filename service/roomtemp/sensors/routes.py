"""HTTP endpoints of the sensor registry: /v1/sensors."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.convertors import Convertor, register_url_convertor

from roomtemp.api import API_PREFIX
from roomtemp.api.auth import EVERY_BUILDING_ONLY, AuthFirstRoute, Reach
from roomtemp.api.deps import DEFAULT_PAGE, Cursor, Limit, Now, ReadConnection, State, Transaction
from roomtemp.api.responses import json_response
from roomtemp.deletion import service as deletion
from roomtemp.errors import ErrorDetail, InvalidInput
from roomtemp.keys import KEY_MAX_LENGTH, KEY_PATTERN
from roomtemp.sensors import service
from roomtemp.sensors.schemas import (
    AssignmentList,
    AssignmentOut,
    DeletedOut,
    MovedOut,
    MoveIn,
    SensorIn,
    SensorList,
    SensorOut,
    SensorPage,
    SensorPatch,
    UnknownPage,
)
from roomtemp.timefmt import DURATION_PATTERN, parse_duration

_SEGMENT = KEY_PATTERN.removeprefix("^").removesuffix("$")


class SensorKeyConvertor(Convertor[str]):
    """A sensor key in a path: a registered key (one segment) or a default sensor's
    "{building}/{room}/{sensor_type}" (three). Never two or four, so `/sensors/{key}/moves` and
    the per-sensor reads of other routers are told apart from the key itself."""

    # Never exactly "unknown" (a reserved key): /sensors/unknown is the list of unknown keys,
    # and its 405 answers must not advertise the methods of a sensor.
    regex = f"(?!unknown$){_SEGMENT}(?:/{_SEGMENT}/{_SEGMENT})?"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


# Registered before the routes below are built: the path templates name it.
register_url_convertor("sensor_key", SensorKeyConvertor())

router = APIRouter(prefix=API_PREFIX, tags=["sensors"], route_class=AuthFirstRoute)
_KEY = "/sensors/{key:sensor_key}"
SensorKey = Annotated[
    str,
    Path(max_length=3 * KEY_MAX_LENGTH + 2, description='Device id, or "{building}/{room}/{type}"'),
]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown sensor"}}
# The 409 descriptions name the error codes, so a client reading the OpenAPI document knows
# what to branch on (tests/dashboard/test_openapi_sensors.py).
_DELETE_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "sensor_has_captures: it has captures (choose ?captures=delete or keep); "
        "default_sensor: a room's default sensor is never deleted"
    }
}
_MOVE_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "sensor_retired; default_sensor (never moved); move_not_after_latest: "
        "`from` is not after its latest assignment; sensor_already_there"
    }
}


def _duration(text: str | None, field: str) -> Any:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InvalidInput(
            f"invalid parameter {field!r}", [ErrorDetail(str(exc), field=field)]
        ) from None


@router.get("/sensors", response_model=SensorPage)
async def list_sensors(
    conn: ReadConnection,
    now: Now,
    reach: Reach,
    building: Annotated[str | None, Query(max_length=KEY_MAX_LENGTH)] = None,
    room: Annotated[str | None, Query(max_length=KEY_MAX_LENGTH, description="Needs building")] = (
        None
    ),
    sensor_type: Annotated[str | None, Query(max_length=KEY_MAX_LENGTH)] = None,
    silent_for: Annotated[
        str | None,
        Query(
            max_length=16,
            description="Only sensors without a capture for longer than this (e.g. 30m, 2h); "
            "a sensor that never sent one counts from its registration",
            json_schema_extra={"pattern": DURATION_PATTERN},
        ),
    ] = None,
    include_retired: bool = False,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
) -> Response:
    """Sensors in key order with where they are and their health, one page at a time (a token
    limited to buildings: the sensors that were never in another building)."""
    span = _duration(silent_for, "silent_for")
    f = service.SensorFilter(
        buildings=reach.sql_keys(),
        building=building,
        room=room,
        sensor_type=sensor_type,
        silent_before=None if span is None else now - span,
        include_retired=include_retired,
    )
    rows, nxt = await service.list_sensors(conn, now, f, cursor, limit)
    return json_response(SensorPage.of(rows, nxt))


@router.post(
    "/sensors",
    status_code=201,
    responses={409: {"description": "A key is registered already (sensor_exists)"}},
    response_model=SensorOut | SensorList,
)
async def register_sensors(
    body: SensorIn | list[SensorIn], conn: Transaction, state: State, now: Now, reach: Reach
) -> Response:
    """Register one sensor, or an array of them (all or none). Their keys leave the unknown list."""
    items = body if isinstance(body, list) else [body]
    if not items:
        raise InvalidInput("empty list", [ErrorDetail("send at least one sensor", field="body")])
    reach.check_write(s.building for s in items)
    rows = await service.register(
        conn,
        [service.NewSensor(s.key, s.sensor_type, s.building, s.room, s.name) for s in items],
        auto_register=state.settings.auto_register,
        now=now,
    )
    if isinstance(body, list):
        return json_response(SensorList(items=[SensorOut.of(r) for r in rows]), status_code=201)
    return json_response(SensorOut.of(rows[0]), status_code=201)


# Unknown keys belong to no building yet: only tokens that reach every building see them.
@router.get("/sensors/unknown", response_model=UnknownPage, dependencies=[EVERY_BUILDING_ONLY])
async def list_unknown(
    conn: ReadConnection, limit: Limit = DEFAULT_PAGE, cursor: Cursor = None
) -> Response:
    """Sensor keys whose captures were refused (unknown_sensor), in key order: register them
    with POST /v1/sensors."""
    rows, nxt = await service.list_unknown(conn, cursor, limit)
    return json_response(UnknownPage.of(rows, nxt))


@router.get(_KEY + "/assignments", responses=_NOT_FOUND, response_model=AssignmentList)
async def list_assignments(key: SensorKey, conn: ReadConnection, reach: Reach) -> Response:
    """Where the sensor has been: rooms with `from` and `to` (null: open)."""
    await service.check_reach(conn, key, reach, write=False)
    rows = await service.assignments(conn, key)
    return json_response(AssignmentList(items=[AssignmentOut.of(r) for r in rows]))


@router.post(
    _KEY + "/moves",
    status_code=201,
    responses={**_NOT_FOUND, **_MOVE_CONFLICT},
    response_model=MovedOut,
)
async def move_sensor(
    key: SensorKey, body: MoveIn, conn: Transaction, state: State, now: Now, reach: Reach
) -> Response:
    """Move the sensor to another room from `from` (default now); its captures at or after
    `from` are attributed to the new room, rollups of both rooms follow."""
    reach.check_write([body.building])
    await service.check_reach(conn, key, reach, write=True)
    moved = await service.move(
        conn,
        key,
        body.building,
        body.room,
        body.start or now,
        auto_register=state.settings.auto_register,
        now=now,
    )
    out = MovedOut(
        key=moved.key,
        building=moved.building,
        room=moved.room,
        start=moved.start,
        captures_moved=moved.captures_moved,
    )
    return json_response(out, status_code=201)


@router.get(_KEY, responses=_NOT_FOUND, response_model=SensorOut)
async def get_sensor(key: SensorKey, conn: ReadConnection, now: Now, reach: Reach) -> Response:
    """One sensor, with its current room and health."""
    await service.check_reach(conn, key, reach, write=False)
    return json_response(SensorOut.of(await service.get_sensor(conn, key, now)))


@router.patch(_KEY, responses=_NOT_FOUND, response_model=SensorOut)
async def patch_sensor(
    key: SensorKey, body: SensorPatch, conn: Transaction, now: Now, reach: Reach
) -> Response:
    """Rename a sensor."""
    await service.check_reach(conn, key, reach, write=True)
    return json_response(SensorOut.of(await service.rename(conn, key, body.name, now)))


@router.delete(_KEY, responses={**_NOT_FOUND, **_DELETE_CONFLICT}, response_model=DeletedOut)
async def delete_sensor(
    key: SensorKey,
    request: Request,
    conn: Transaction,
    now: Now,
    reach: Reach,
    captures: Annotated[
        Literal["delete", "keep"] | None,
        Query(
            description="A sensor with captures: `delete` them too (rollups recomputed) or "
            "`keep` them (the sensor is retired: kept as history, its captures refused)"
        ),
    ] = None,
) -> Response:
    """Delete a sensor. One with captures is refused (409 sensor_has_captures) without
    ?captures=delete or ?captures=keep. Default sensors cannot be deleted. A deletion is
    recorded in the audit (GET /v1/deletions); a retry answers 404."""
    await service.check_reach(conn, key, reach, write=True)
    done = await service.delete(conn, key, captures or "refuse", now)
    if done.outcome == "deleted":
        principal = getattr(request.state, "principal", None)
        await deletion.record_sensor(
            conn,
            key,
            done.sensor_id,
            done.captures_deleted,
            token=None if principal is None else principal.public_id,
            now=now,
        )
    return json_response(
        DeletedOut(key=done.key, outcome=done.outcome, captures_deleted=done.captures_deleted)
    )
