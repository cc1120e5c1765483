"""`roomtemp import` of a generated 200k-row file with bad rows (again, and with changed values:
the counts and the rollups), export round trip; stop between chunks."""

from __future__ import annotations

import asyncio
import csv
import io
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.__main__ import main
from roomtemp.clock import system_clock
from roomtemp.importer import service
from roomtemp.importer.source import open_source
from tests.conftest import make_settings
from tests.importer.generate import START, Expected, write_csv

ROOMS, PER_ROOM = 50, 4000  # 204,124 rows (with re-sends), 12,372 of them bad


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


class Cli:
    """Runs `roomtemp ...` in this process (a subprocess costs seconds of imports each time)."""

    def __init__(
        self, url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("DATABASE_URL", url)
        self.monkeypatch = monkeypatch
        self.capsys = capsys

    def __call__(self, *args: str, stdin: bytes | None = None) -> Done:
        if stdin is not None:
            self.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        self.capsys.readouterr()
        code = main(list(args))
        out, err = self.capsys.readouterr()
        return Done(code, out, err)


@pytest.fixture
def roomtemp(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    return Cli(database_url, monkeypatch, capsys)


def stored_celsius(db: psycopg.Connection[Any]) -> dict[tuple[str, str, Any], float]:
    rows = db.execute(
        "SELECT b.key, r.key, c.ts, c.value - 273.15 FROM capture c "
        "JOIN room r ON r.id = c.room_id JOIN building b ON b.id = r.building_id"
    )
    return {(b, r, ts): v for b, r, ts, v in rows}


def assert_rollups_match_raw(db: psycopg.Connection[Any]) -> None:
    """Both rollup tables hold exactly the buckets recomputed from the raw captures."""
    # 15-minute buckets keyed by their end, 1-hour pieces by their start (migration 0009).
    for table, stride, function, column in (
        ("capture_rollup_15m", "15 minutes", "roomtemp_bucket", "bucket"),
        ("capture_rollup_1h", "1 hour", "roomtemp_bucket_start", "start"),
    ):
        raw = {
            (r, s, b): (n, total, lo, hi)
            for r, s, b, n, total, lo, hi in db.execute(
                f"SELECT room_id, sensor_id, {function}(ts, CAST(%s AS interval)) AS b, "
                "count(*), sum(value), min(value), max(value) FROM capture GROUP BY 1, 2, 3",
                [stride],
            )
        }
        rolled = {
            (r, s, b): (n, total, lo, hi)
            for r, s, b, n, total, lo, hi in db.execute(
                f"SELECT room_id, sensor_id, {column}, count, sum, min, max FROM {table}"
            )
        }
        assert rolled.keys() == raw.keys(), table
        for k, (n, total, lo, hi) in raw.items():
            assert rolled[k][0] == n, (table, k)
            assert rolled[k][1] == pytest.approx(total, rel=1e-12), (table, k)
            assert rolled[k][2:] == (lo, hi), (table, k)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Expected]:
    path = tmp_path_factory.mktemp("import") / "captures.csv.gz"
    return path, write_csv(path, ROOMS, PER_ROOM)


def test_import_big_file_with_bad_rows_then_export_round_trip(
    roomtemp: Cli, db: psycopg.Connection[Any], big_file: tuple[Path, Expected], tmp_path: Path
) -> None:
    path, exp = big_file
    rejects = tmp_path / "rejects.csv"
    started = time.monotonic()
    done = roomtemp("import", str(path), "--rejects", str(rejects))
    seconds = time.monotonic() - started
    assert done.returncode == 1, done.stderr  # 1: some rows were rejected
    accepted = exp.inserted + exp.duplicates + exp.updated
    assert f"read {exp.rows} rows" in done.stdout
    assert (
        f"accepted {accepted}: inserted {exp.inserted}, duplicates {exp.duplicates}, "
        f"updated {exp.updated}" in done.stdout
    )
    assert f"rejected {len(exp.rejected)} (see {rejects})" in done.stdout
    assert "import: " in done.stderr  # progress lines (not a terminal: plain lines)
    print(f"imported {exp.rows} rows in {seconds:.1f} s ({exp.rows / seconds:,.0f} rows/s)")

    with rejects.open(newline="") as f:
        got = {int(r["line"]): r["code"] for r in csv.DictReader(f)}
    assert got == exp.rejected

    stored = stored_celsius(db)
    assert stored.keys() == exp.stored.keys()
    assert all(abs(stored[k] - v) < 1e-9 for k, v in exp.stored.items())
    assert_rollups_match_raw(db)

    # Again: nothing new. The corrected re-sends update twice (the stored correction, then the
    # correction again); every other accepted row is a duplicate.
    done = roomtemp("import", str(path), "--rejects", str(rejects))
    assert done.returncode == 1, done.stderr
    assert (
        f"accepted {accepted}: inserted 0, duplicates {accepted - 2 * exp.updated}, "
        f"updated {2 * exp.updated}" in done.stdout
    )
    assert stored_celsius(db) == stored

    # The same readings with every value changed: each stored key is updated by its first row;
    # a re-send in the file is a duplicate (identical) or another update (corrected).
    changed_path = tmp_path / "changed.csv.gz"
    exp = write_csv(changed_path, ROOMS, PER_ROOM, shift=1.0)
    done = roomtemp("import", str(changed_path), "--rejects", str(tmp_path / "r2.csv"))
    assert done.returncode == 1, done.stderr
    assert (
        f"accepted {accepted}: inserted 0, duplicates {exp.duplicates}, "
        f"updated {exp.inserted + exp.updated}" in done.stdout
    )
    assert f"rejected {len(exp.rejected)}" in done.stdout
    stored = stored_celsius(db)
    assert stored.keys() == exp.stored.keys()
    assert all(abs(stored[k] - v) < 1e-9 for k, v in exp.stored.items())
    assert_rollups_match_raw(db)

    # Export in celsius: exactly the captures the file left stored.
    out = tmp_path / "export.csv"
    done = roomtemp(
        "export",
        "--building",
        "hq",
        "--from",
        "0",
        "--unit",
        "celsius",
        "-o",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert f"exported {len(exp.stored)} captures" in done.stderr
    with out.open(newline="") as f:
        exported = {
            (r["building"], r["room"], datetime.fromisoformat(r["ts"])): float(r["value"])
            for r in csv.DictReader(f)
        }
    assert exported.keys() == exp.stored.keys()
    assert all(abs(exported[k] - v) < 1e-9 for k, v in exp.stored.items())

    # One room's export (kelvin, NDJSON) imports back into an empty table unchanged.
    before = db.execute("SELECT ts, value FROM capture WHERE room_id = 7 ORDER BY ts").fetchall()
    room = db.execute("SELECT key FROM room WHERE id = 7").fetchone()
    assert room is not None
    out = tmp_path / "room.ndjson"
    done = roomtemp(
        "export",
        "--building",
        "hq",
        "--room",
        room[0],
        "--format",
        "ndjson",
        "-o",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    db.execute("TRUNCATE capture")
    done = roomtemp("import", str(out))
    assert done.returncode == 0, done.stderr
    assert f"accepted {len(before)}: inserted {len(before)}, duplicates 0" in done.stdout
    assert db.execute("SELECT ts, value FROM capture ORDER BY ts").fetchall() == before


def test_import_rerun_is_safe_and_stdin_ndjson(
    roomtemp: Cli, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    path = tmp_path / "small.csv"
    exp = write_csv(path, 3, 200)
    first = roomtemp("import", str(path))
    state = db.execute("SELECT room_id, ts, value FROM capture ORDER BY 1, 2").fetchall()
    again = roomtemp("import", str(path))
    assert first.returncode == again.returncode == 1
    assert f"inserted {exp.inserted}," in first.stdout
    # The corrected re-sends update twice (stored value, then the correction), nothing is new.
    accepted = exp.inserted + exp.duplicates + exp.updated
    assert (
        f"accepted {accepted}: inserted 0, duplicates {accepted - 2 * exp.updated}, "
        f"updated {2 * exp.updated}" in again.stdout
    )
    assert db.execute("SELECT room_id, ts, value FROM capture ORDER BY 1, 2").fetchall() == state

    lines = (
        b"\n".join(
            orjson.dumps(
                {
                    "building": "hq",
                    "room": "stdin",
                    "value": 20 + n,
                    "unit": "celsius",
                    "ts": (START + timedelta(minutes=n)).isoformat(),
                }
            )
            for n in range(10)
        )
        + b'\n{"building": "hq"\n'
    )
    done = roomtemp("import", "-", "--rejects", str(tmp_path / "r.csv"), stdin=lines)
    assert "accepted 10: inserted 10" in done.stdout
    assert "rejected 1" in done.stdout
    assert (tmp_path / "r.csv").read_text().splitlines()[1].startswith("11,,unreadable_row,")


def test_import_unreadable_file(roomtemp: Cli, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("when,where\n1,2\n")
    done = roomtemp("import", str(path))
    assert done.returncode == 2
    assert "the CSV header must name capture fields" in done.stderr


def test_import_stops_between_chunks_with_everything_counted_committed(
    database_url: str, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    """What Ctrl-C does (the signal handler sets the stop flag): the chunk in flight finishes,
    nothing after it starts, and the totals are exactly what is committed."""
    path = tmp_path / "stop.csv"
    write_csv(path, 2, 300)
    settings = make_settings(database_url=database_url)
    chunks: list[int] = []

    async def go() -> service.ImportTotals:
        engine = create_async_engine(database_url)
        try:
            with open_source(str(path)) as source:
                return await service.import_records(
                    engine,
                    source.records,
                    policy=service.policy_for(settings, 100),
                    clock=system_clock,
                    chunk_size=100,
                    on_chunk=lambda t: chunks.append(t.rows),
                    should_stop=lambda: len(chunks) >= 2,
                )
        finally:
            await engine.dispose()

    totals = asyncio.run(go())
    assert (totals.rows, totals.chunks) == (200, 2)
    stored = db.execute("SELECT count(*) FROM capture").fetchone()
    assert stored == (totals.inserted,)
    assert totals.inserted + totals.duplicates + totals.updated + totals.rejected == 200
