"""`roomtemp import` of a generated 200k-row file with bad rows; export round trip; uploads."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.lifecycle.generate import Expected, write_csv

ROOMS, PER_ROOM = 50, 4000  # 204,124 rows (with re-sends), 12,372 of them bad


def roomtemp(
    database_url: str, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "MAX_FUTURE_SKEW_SECONDS": "300"}
    return subprocess.run(
        [sys.executable, "-m", "roomtemp", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def stored_celsius(db: psycopg.Connection[Any]) -> dict[tuple[str, str, Any], float]:
    rows = db.execute(
        "SELECT b.key, r.key, c.ts, c.value - 273.15 FROM capture c "
        "JOIN room r ON r.id = c.room_id JOIN building b ON b.id = r.building_id"
    )
    return {(b, r, ts): v for b, r, ts, v in rows}


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Expected]:
    path = tmp_path_factory.mktemp("import") / "captures.csv.gz"
    return path, write_csv(path, ROOMS, PER_ROOM)


def test_import_big_file_with_bad_rows_then_export_round_trip(
    database_url: str, db: psycopg.Connection[Any], big_file: tuple[Path, Expected], tmp_path: Path
) -> None:
    path, exp = big_file
    rejects = tmp_path / "rejects.csv"
    started = time.monotonic()
    done = roomtemp(database_url, "import", str(path), "--rejects", str(rejects))
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

    # Re-running the same file stores nothing new.
    again = roomtemp(database_url, "import", str(path), "--rejects", str(rejects))
    assert f"accepted {accepted}: inserted 0, duplicates {accepted}, updated 0" in again.stdout

    # Export everything in kelvin, empty the table, import the export: identical rows.
    before = db.execute("SELECT room_id, ts, value FROM capture ORDER BY 1, 2").fetchall()
    out = tmp_path / "export.csv"
    done = roomtemp(database_url, "export", "--building", "hq", "--from", "0", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert f"exported {len(before)} captures" in done.stderr
    db.execute("TRUNCATE capture")
    done = roomtemp(database_url, "import", str(out))
    assert done.returncode == 0, done.stderr
    assert f"accepted {len(before)}: inserted {len(before)}, duplicates 0" in done.stdout
    assert db.execute("SELECT room_id, ts, value FROM capture ORDER BY 1, 2").fetchall() == before
