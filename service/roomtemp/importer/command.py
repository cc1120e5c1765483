"""`roomtemp import FILE|-`: load a CSV or NDJSON file (gzip accepted) with progress."""

from __future__ import annotations

import argparse
import asyncio
import csv
import signal
import sys
import time
from typing import IO, TYPE_CHECKING

from roomtemp.capture.formats import FormatError
from roomtemp.clock import system_clock
from roomtemp.importer.source import open_source
from roomtemp.lifecycle.cli import Progress, engine_for

if TYPE_CHECKING:  # the service (SQLAlchemy, pydantic) is imported when the command runs
    from roomtemp.importer import service
    from roomtemp.settings import Settings

EXIT_REJECTS = 1
EXIT_UNREADABLE = 2
EXIT_INTERRUPTED = 130


def _positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError("must be between 1 and 1000000")
    return value


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "import",
        help="bulk-load captures from a CSV or NDJSON file",
        description="Load captures from FILE (or - for stdin): CSV with a header naming capture "
        "fields, or NDJSON with one capture object per line; gzip is recognised. Rows go "
        "through the same validation and idempotency as POST /v1/captures, one transaction "
        "per chunk. Rejected rows are written to a reject file with their line number and "
        "reason. Ctrl-C stops after the current chunk. Re-running a file is safe. Exit "
        "status: 0 all rows stored, 1 some rejected, 2 unreadable file, 130 interrupted.",
    )
    parser.add_argument("file", help="path, or - for stdin")
    parser.add_argument("--format", choices=["csv", "ndjson"], help="default: from name/content")
    parser.add_argument(
        "--rejects", help="reject file (CSV; default: FILE.rejects.csv, import.rejects.csv)"
    )
    parser.add_argument(
        "--chunk-size", type=_positive, default=10_000, help="rows per transaction (10000)"
    )
    parser.set_defaults(func=run)


class RejectWriter:
    """Opens the reject file on the first rejected row only."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._writer: csv.DictWriter[str] | None = None

    def __call__(self, reject: service.Reject) -> None:
        if self._writer is None:
            self._file = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115
            self._writer = csv.DictWriter(
                self._file, fieldnames=["line", "field", "code", "message", "row"]
            )
            self._writer.writeheader()
        self._writer.writerow(
            {
                "line": reject.line,
                "field": reject.field or "",
                "code": reject.code,
                "message": reject.message,
                "row": reject.raw,
            }
        )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


async def _import(
    settings: Settings, args: argparse.Namespace, rejects: RejectWriter
) -> tuple[service.ImportTotals, bool, float]:
    from roomtemp.importer import service

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    except (NotImplementedError, RuntimeError):  # not the main thread
        pass
    engine = engine_for(settings)
    progress = Progress("import")
    started = time.monotonic()
    try:
        with open_source(args.file, args.format) as source:

            def on_chunk(t: service.ImportTotals) -> None:
                progress.update(t.rows, t.done, f"{t.rejected:,} rejected")

            totals = await service.import_records(
                engine,
                source.records,
                policy=service.policy_for(settings, args.chunk_size),
                clock=system_clock,
                chunk_size=args.chunk_size,
                on_chunk=on_chunk,
                on_reject=rejects,
                should_stop=stop.is_set,
                position=source.fraction_read,
            )
            progress.update(totals.rows, totals.done, f"{totals.rejected:,} rejected", force=True)
            progress.finish()
    finally:
        await engine.dispose()
    return totals, stop.is_set(), time.monotonic() - started


def run(settings: Settings, args: argparse.Namespace) -> int:
    default = "import.rejects.csv" if args.file == "-" else args.file + ".rejects.csv"
    rejects = RejectWriter(args.rejects or default)
    try:
        totals, interrupted, seconds = asyncio.run(_import(settings, args, rejects))
    except (OSError, FormatError, UnicodeDecodeError) as exc:
        print(f"roomtemp import: cannot read {args.file}: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    finally:
        rejects.close()
    out = sys.stdout
    if interrupted:
        print("interrupted: stopped after the last committed chunk", file=out)
    rate = totals.rows / seconds if seconds > 0 else 0.0
    print(f"read {totals.rows} rows in {seconds:.1f} s ({rate:,.0f} rows/s)", file=out)
    print(
        f"accepted {totals.accepted}: inserted {totals.inserted}, "
        f"duplicates {totals.duplicates}, updated {totals.updated}",
        file=out,
    )
    print(
        f"rejected {totals.rejected}" + (f" (see {rejects.path})" if totals.rejected else ""),
        file=out,
    )
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_REJECTS if totals.rejected else 0
