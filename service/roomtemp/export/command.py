"""`roomtemp export`: stream raw captures as CSV or NDJSON to stdout or a file."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import IO, TYPE_CHECKING

from roomtemp.clock import system_clock
from roomtemp.errors import DomainError
from roomtemp.lifecycle.cli import Progress, engine_for
from roomtemp.timefmt import parse_time

if TYPE_CHECKING:  # the services (SQLAlchemy) are imported when the command runs
    from sqlalchemy.ext.asyncio import AsyncEngine

    from roomtemp.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "export",
        help="write raw captures as CSV or NDJSON",
        description="Stream the captures of a room (or of every room of a building) in "
        "(--from, --to] in time order, in the format `roomtemp import` reads. Progress goes "
        "to stderr.",
    )
    parser.add_argument("--building", required=True)
    parser.add_argument("--room", help="default: every room of the building")
    parser.add_argument("--sensor-type", default="temperature")
    parser.add_argument("--from", dest="from_", help="exclusive start (RFC 3339 or Unix s)")
    parser.add_argument("--to", help="inclusive end (default: now)")
    parser.add_argument("--unit", help="convert values (default: canonical unit)")
    parser.add_argument("--format", choices=["csv", "ndjson"], default="csv")
    parser.add_argument("--output", "-o", default="-", help="file (default: stdout)")
    parser.set_defaults(func=run)


async def _rooms(engine: AsyncEngine, building: str) -> list[str]:
    from roomtemp.registry import service as registry

    keys: list[str] = []
    cursor: str | None = None
    async with engine.connect() as conn:
        while True:
            rows, cursor = await registry.list_rooms(conn, building, cursor=cursor, limit=1000)
            keys += [r.key for r in rows]
            if cursor is None:
                return keys


async def export(settings: Settings, args: argparse.Namespace, out: IO[bytes]) -> int:
    """Write the export; returns the number of captures written."""
    from roomtemp.export import service

    engine = engine_for(settings)
    progress = Progress("export")
    written = 0
    start = parse_time(args.from_, "from") if args.from_ else None
    end = parse_time(args.to, "to") if args.to else system_clock()
    try:
        rooms = [args.room] if args.room else await _rooms(engine, args.building)
        if args.format == "csv":
            out.write(service.csv_header().encode())
        for room in rooms:
            async with engine.connect() as conn:
                sel = await service.select(
                    conn,
                    args.building,
                    room,
                    sensor_type=args.sensor_type,
                    start=start,
                    end=end,
                    unit=args.unit,
                )
            async for rows in service.stream_rows(engine, sel):
                if args.format == "csv":
                    out.write(service.csv_lines(sel, rows).encode())
                else:
                    out.write(service.ndjson_lines(sel, rows))
                written += len(rows)
                progress.update(written, extra=f"room {room}")
        progress.update(written, force=True)
        progress.finish()
    finally:
        await engine.dispose()
    return written


def run(settings: Settings, args: argparse.Namespace) -> int:
    out: IO[bytes] = sys.stdout.buffer if args.output == "-" else open(args.output, "wb")  # noqa: SIM115
    try:
        written = asyncio.run(export(settings, args, out))
    except DomainError as exc:
        print(f"roomtemp export: {exc}", file=sys.stderr)
        return 2
    finally:
        if out is not sys.stdout.buffer:
            out.close()
        else:
            out.flush()
    print(f"exported {written} captures", file=sys.stderr)
    return 0
