"""`roomtemp import` progress: the percentage and ETA count committed rows, never rows read ahead;
100% appears only once the last chunk is committed (issue 23)."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.__main__ import main
from roomtemp.clock import system_clock
from roomtemp.importer import service
from roomtemp.importer.source import open_source
from roomtemp.lifecycle.cli import Progress
from tests.conftest import make_settings
from tests.importer.generate import HEADER, START

CHUNK = 1000
# Three full chunks and a short tail: the decoders read the tail ahead with the third chunk.
ROWS = 3 * CHUNK + 40
# How far the decoders read ahead of the rows handed out (io.TextIOWrapper reads 8 KiB at a
# time, on top of the file's buffer); a chunk is about 46 KiB.
READ_AHEAD = 16 * 1024


def write_rows(path: Path) -> tuple[list[float], float]:
    """A valid, uncompressed CSV; returns the fraction of the file through each chunk's end,
    and READ_AHEAD as a fraction of it."""
    ends: list[float] = []
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for n in range(ROWS):
            ts = (START + timedelta(minutes=n // 10)).isoformat()
            w.writerow([ts, "hq", f"r{n % 10}", f"{20 + n % 7 / 10:.1f}", "celsius"])
            if (n + 1) % CHUNK == 0 or n + 1 == ROWS:
                ends.append(f.tell())
    size = path.stat().st_size
    return [end / size for end in ends], READ_AHEAD / size


def test_import_progress_counts_committed_rows(
    database_url: str, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    path = tmp_path / "progress.csv"
    ends, slack = write_rows(path)
    settings = make_settings(database_url=database_url)
    out = io.StringIO()
    progress = Progress("import", stream=out, every=0)  # a line per chunk, as on a terminal
    seen: list[tuple[int, float | None, int]] = []  # rows, done, rows in the table by then

    def on_chunk(t: service.ImportTotals) -> None:
        stored = db.execute("SELECT count(*) FROM capture").fetchone()
        assert stored is not None
        seen.append((t.rows, t.done, stored[0]))
        progress.update(t.rows, t.done)

    async def go() -> service.ImportTotals:
        engine = create_async_engine(database_url)
        try:
            with open_source(str(path)) as source:
                return await service.import_records(
                    engine,
                    source.records,
                    policy=service.policy_for(settings, CHUNK),
                    clock=system_clock,
                    chunk_size=CHUNK,
                    on_chunk=on_chunk,
                    position=source.fraction_read,
                )
        finally:
            await engine.dispose()

    totals = asyncio.run(go())
    progress.update(totals.rows, totals.done, force=True)  # what the command prints last

    assert (totals.inserted, totals.rejected, totals.done) == (ROWS, 0, 1.0)
    assert [rows for rows, _, _ in seen] == [CHUNK, 2 * CHUNK, 3 * CHUNK, ROWS]
    assert all(rows == stored for rows, _, stored in seen), seen  # reported = committed
    dones = [done for _, done, _ in seen]
    assert dones[-1] == 1.0  # known to be the last when it is committed
    for done, end in zip(dones[:-1], ends[:-1], strict=True):
        assert done is not None
        assert done < 1.0  # also the third: the tail was read ahead with it, but not stored
        assert end <= done <= end + slack, (done, end)

    lines = out.getvalue().splitlines()  # the final line repeats the last one: left out
    percents = [int(m.group(1)) for m in map(re.compile(r", (\d+)%, ETA").search, lines) if m]
    assert len(percents) == len(lines) == len(seen), lines
    assert percents == [int(done * 100) for done in dones if done is not None]
    assert max(percents[:-1]) < 100
    assert re.search(rf"^import: {ROWS:,} rows, .*, 100%, ETA 0 s$", lines[-1]), lines


def test_import_command_reports_committed_progress(
    database_url: str,
    db: psycopg.Connection[Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The command's lines (not a terminal: the first chunk's, then one every 5 s, then the
    final one): the first counts the first chunk only, though the second is read by then."""
    path = tmp_path / "progress.csv"
    ends, slack = write_rows(path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["import", str(path), "--chunk-size", str(CHUNK)]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("import:")]
    first = re.search(r"^import: ([\d,]+) rows, .*, (\d+)%, ETA", lines[0])
    assert first, lines
    assert int(first.group(1).replace(",", "")) == CHUNK
    assert int(ends[0] * 100) <= int(first.group(2)) <= (ends[0] + slack) * 100, lines
    assert re.search(rf"^import: {ROWS:,} rows, .*, 100%, ETA 0 s, 0 rejected$", lines[-1])
    assert [line for line in lines if "100%" in line] == lines[-1:]
