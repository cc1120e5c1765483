"""The import loop: chunks of records through capture.service.ingest_valid, bad rows set aside.

Each chunk is one transaction through capture.service.ingest_valid, which names every bad item
and stores the others: the rows stored went through exactly the rules, idempotency and counting
of POST /v1/captures. Re-running a file only finds duplicates. Chunks are stored with
Storage.COPY: binary COPY into a staging table and one upsert from it
(capture.queries.upsert_captures_copy).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from itertools import islice

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from roomtemp.capture import formats
from roomtemp.capture import service as capture
from roomtemp.capture.schemas import CaptureItem, one_capture
from roomtemp.clock import Clock
from roomtemp.errors import ErrorDetail, InvalidInput
from roomtemp.settings import Settings


@dataclass(frozen=True)
class Reject:
    line: int
    field: str | None
    code: str
    message: str
    raw: str


@dataclass
class ImportTotals:
    rows: int = 0
    inserted: int = 0
    duplicates: int = 0
    updated: int = 0
    rejected: int = 0
    chunks: int = 0
    # The fraction of the source whose rows are committed, when its size is known (what the
    # progress percentage and ETA are computed from): 1.0 once the last chunk is committed.
    done: float | None = None

    @property
    def accepted(self) -> int:
        return self.inserted + self.duplicates + self.updated


def policy_for(settings: Settings, chunk_size: int) -> capture.IngestPolicy:
    """The API's ingest policy, with the chunk as the batch."""
    return replace(capture.policy_from(settings), max_batch_size=chunk_size)


def _chunks(
    records: Iterable[formats.Record], size: int
) -> Iterator[tuple[list[formats.Record], bool]]:
    """Chunks of `size` records, each with whether it is the last (one record is read ahead)."""
    it = iter(records)
    head = next(it, None)
    while head is not None:
        chunk = [head, *islice(it, size - 1)]
        try:
            head = next(it, None)
        except Exception:
            yield chunk, False  # stored first: the unreadable part comes after it
            raise
        yield chunk, head is None


def _reject(record: formats.Record, detail: ErrorDetail) -> Reject:
    return Reject(record.line, detail.field, detail.code, detail.message, record.raw)


# Where a chunk ends in the file is known only roughly (the decoders read ahead, up to the end of
# the file while a short last chunk is still to come): below 1 until the last chunk is stored.
_NOT_ALL = math.nextafter(1.0, 0.0)


@dataclass
class _Parsed:
    rows: int
    pending: list[tuple[formats.Record, CaptureItem]]
    rejects: list[Reject]
    done: float | None = None  # the fraction of the source that is stored with this chunk


def _parse(chunk: list[formats.Record]) -> _Parsed:
    """The wire-level checks (CaptureIn), as POST /v1/captures does before the domain rules."""
    parsed = _Parsed(len(chunk), [], [])
    readable = [r for r in chunk if r.data is not None]
    try:
        # One call into pydantic-core for the chunk (see CaptureParser.validate_many).
        items: list[CaptureItem] | None = one_capture.validate_many([r.data for r in readable])
    except ValidationError:
        items = None  # some row is invalid: row by row below, each one named
    for record in chunk:
        if record.data is None:
            parsed.rejects.append(
                Reject(record.line, None, "unreadable_row", record.error or "", record.raw)
            )
            continue
        if items is not None:
            continue
        try:
            parsed.pending.append((record, one_capture.validate_python(record.data)))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err.get("loc", ())) or None
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            parsed.rejects.append(Reject(record.line, loc, str(err.get("type")), msg, record.raw))
    if items is not None:
        parsed.pending = list(zip(readable, items, strict=True))
    return parsed


async def import_records(
    engine: AsyncEngine,
    records: Iterable[formats.Record],
    *,
    policy: capture.IngestPolicy,
    clock: Clock,
    chunk_size: int = 10_000,
    on_chunk: Callable[[ImportTotals], None] = lambda _: None,
    on_reject: Callable[[Reject], None] = lambda _: None,
    should_stop: Callable[[], bool] = lambda: False,
    staged: bool = True,
    position: Callable[[], float | None] = lambda: None,
) -> ImportTotals:
    """Import `records`; stops between chunks when `should_stop()` (everything counted so far
    is committed). `on_chunk` gets the totals after each commit; their `done` is the fraction
    of the source committed, from `position()`, the fraction read (Source.fraction_read).
    `staged=False` stores through the API's one-statement upsert instead of COPY (same results;
    kept for comparison in bench/import_speed.py).

    The next chunk is read and parsed in a worker thread while the current one is in the
    database. One chunk at a time is read, so memory stays bounded.
    """
    totals = ImportTotals()
    chunks = _chunks(records, chunk_size)

    def read_next() -> _Parsed | None:
        chunk, last = next(chunks, (None, True))
        if chunk is None:
            return None
        parsed = _parse(chunk)
        # Where this chunk ends: sampled now, as by its commit the next one has been read.
        read = position()
        if read is not None:
            parsed.done = 1.0 if last else min(read, _NOT_ALL)
        return parsed

    upcoming = asyncio.ensure_future(asyncio.to_thread(read_next))
    try:
        while (parsed := await upcoming) is not None:
            upcoming = asyncio.ensure_future(asyncio.to_thread(read_next))
            totals.rows += parsed.rows
            for r in parsed.rejects:
                totals.rejected += 1
                on_reject(r)
            await _store(engine, parsed.pending, policy, clock, totals, on_reject, staged)
            totals.chunks += 1
            totals.done = parsed.done
            on_chunk(totals)
            if should_stop():
                break
    finally:
        # The reader thread must be done with the file before the caller closes it.
        with contextlib.suppress(BaseException):
            await upcoming
    return totals


async def _store(
    engine: AsyncEngine,
    pending: list[tuple[formats.Record, CaptureItem]],
    policy: capture.IngestPolicy,
    clock: Clock,
    totals: ImportTotals,
    on_reject: Callable[[Reject], None],
    staged: bool,
) -> None:
    """One chunk through capture.ingest_valid in one transaction; the items it names are set aside
    (reported once the chunk is committed), the rest stored."""
    if not pending:
        return
    bad: dict[int, ErrorDetail] = {}
    async with engine.begin() as conn:
        counts, rejected = await capture.ingest_valid(
            conn,
            [c for _, c in pending],
            policy=policy,
            now=clock(),
            storage=capture.Storage.COPY if staged else capture.Storage.UPSERT,
        )
        for detail in rejected:  # the first problem of each bad item
            if detail.index is None:  # cannot happen for a batch; rolls the chunk back
                raise InvalidInput("a rejected capture without its index", rejected)
            bad.setdefault(detail.index, detail)
    for index, detail in sorted(bad.items()):
        totals.rejected += 1
        on_reject(_reject(pending[index][0], detail))
    totals.inserted += counts.inserted
    totals.duplicates += counts.duplicates
    totals.updated += counts.updated
