"""`roomtemp sensors list|add|show|move|history|delete|unknown`: the sensor registry from a shell,
through the same service as the API (one transaction per command)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from roomtemp.clock import system_clock
from roomtemp.errors import DomainError
from roomtemp.lifecycle.cli import engine_for
from roomtemp.timefmt import parse_duration, parse_timestamp

if TYPE_CHECKING:  # the service (SQLAlchemy) is imported when the command runs
    from sqlalchemy.ext.asyncio import AsyncConnection

    from roomtemp.sensors import service
    from roomtemp.settings import Settings

log = logging.getLogger(__name__)

_HEADER = f"{'KEY':<40} {'TYPE':<14} {'BUILDING/ROOM':<28} {'LAST CAPTURE':<26} BATTERY"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "sensors",
        help="manage sensors (devices): register, move, delete, list unknown keys",
        description="The sensor registry in DATABASE_URL, as /v1/sensors serves it.",
    )
    parser.set_defaults(func=run)
    ssub = parser.add_subparsers(dest="sensors_command", required=True)
    lst = ssub.add_parser("list", help="list sensors with their room and last capture")
    lst.add_argument("--building")
    lst.add_argument("--room", help="needs --building")
    lst.add_argument("--sensor-type")
    lst.add_argument("--silent-for", help="only sensors silent for longer, e.g. 30m, 2h")
    lst.add_argument("--all", action="store_true", help="include retired sensors")
    add = ssub.add_parser("add", help="register a sensor (removes its key from `unknown`)")
    add.add_argument("key", help="the device id as the device reports it")
    add.add_argument("--sensor-type", required=True)
    add.add_argument("--building", required=True)
    add.add_argument("--room", required=True)
    add.add_argument("--name", default="")
    show = ssub.add_parser("show", help="one sensor")
    show.add_argument("key")
    move = ssub.add_parser("move", help="move a sensor to another room")
    move.add_argument("key")
    move.add_argument("--building", required=True)
    move.add_argument("--room", required=True)
    move.add_argument("--from", dest="start", help="since when (ISO 8601; default now)")
    hist = ssub.add_parser("history", help="the rooms a sensor has been in")
    hist.add_argument("key")
    delete = ssub.add_parser("delete", help="delete a sensor")
    delete.add_argument("key")
    delete.add_argument(
        "--captures",
        choices=["delete", "keep"],
        help="a sensor with captures: delete them too, or keep them and retire the sensor",
    )
    ssub.add_parser("unknown", help="sensor keys whose captures were refused")


def _line(s: service.SensorRow) -> str:
    last = s.last_capture_at.isoformat() if s.last_capture_at else "-"
    battery = "-" if s.battery is None else f"{s.battery:g}%"
    retired = " (retired)" if s.retired_at else ""
    place = f"{s.building}/{s.room}"
    return f"{s.key:<40} {s.sensor_type:<14} {place:<28} {last:<26} {battery}{retired}"


async def _list(conn: AsyncConnection, args: argparse.Namespace, now: datetime) -> None:
    from roomtemp.pagination import MAX_LIMIT
    from roomtemp.sensors import service

    f = service.SensorFilter(
        building=args.building,
        room=args.room,
        sensor_type=args.sensor_type,
        silent_before=None if args.silent_for is None else now - parse_duration(args.silent_for),
        include_retired=args.all,
    )
    print(_HEADER)
    cursor: str | None = None
    while True:
        rows, cursor = await service.list_sensors(conn, now, f, cursor, MAX_LIMIT)
        for row in rows:
            print(_line(row))
        if cursor is None:
            return


async def _unknown(conn: AsyncConnection) -> None:
    from roomtemp.pagination import MAX_LIMIT
    from roomtemp.sensors import service

    print(f"{'KEY':<40} {'FIRST SEEN':<26} {'LAST SEEN':<26} REFUSED")
    cursor: str | None = None
    while True:
        rows, cursor = await service.list_unknown(conn, cursor, MAX_LIMIT)
        for u in rows:
            print(
                f"{u.key:<40} {u.first_seen.isoformat():<26} {u.last_seen.isoformat():<26} "
                f"{u.refused}"
            )
        if cursor is None:
            return


async def _dispatch(
    conn: AsyncConnection, args: argparse.Namespace, settings: Settings, now: datetime
) -> None:
    from roomtemp.sensors import service

    command = args.sensors_command
    if command == "list":
        await _list(conn, args, now)
    elif command == "unknown":
        await _unknown(conn)
    elif command == "add":
        new = service.NewSensor(args.key, args.sensor_type, args.building, args.room, args.name)
        (row,) = await service.register(conn, [new], auto_register=settings.auto_register, now=now)
        print(_HEADER + "\n" + _line(row))
    elif command == "show":
        print(_HEADER + "\n" + _line(await service.get_sensor(conn, args.key, now)))
    elif command == "move":
        start = parse_timestamp(args.start) if args.start else now
        moved = await service.move(
            conn,
            args.key,
            args.building,
            args.room,
            start,
            auto_register=settings.auto_register,
            now=now,
        )
        print(
            f"moved {moved.key} to {moved.building}/{moved.room} from {moved.start.isoformat()}"
            f" ({moved.captures_moved} captures re-attributed)"
        )
    elif command == "history":
        for a in await service.assignments(conn, args.key):
            since = a.start.isoformat() if a.start else "(start)"
            until = a.end.isoformat() if a.end else "(now)"
            print(f"{a.building}/{a.room}  {since} .. {until}")
    else:
        done = await service.delete(conn, args.key, args.captures or "refuse", now)
        print(f"{done.outcome} {done.key} ({done.captures_deleted} captures deleted)")


async def _run(settings: Settings, args: argparse.Namespace) -> None:
    engine = engine_for(settings)
    try:
        async with engine.begin() as conn:
            await _dispatch(conn, args, settings, system_clock())
    finally:
        await engine.dispose()


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        asyncio.run(_run(settings, args))
    except DomainError as exc:
        details = "; ".join(d.message for d in exc.details)
        log.error("%s%s", exc.message, f": {details}" if details else "")
        return 1
    except ValueError as exc:  # a bad --from or --silent-for
        log.error("%s", exc)
        return 2
    return 0
