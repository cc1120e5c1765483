"""`roomtemp import` sets aside rows the API would refuse with a 4xx (issue 14): timestamps that
leave years 1 … 9999 on conversion to UTC, CSV cells over csv.field_size_limit(); it keeps going
and reports them like any other bad row, never a traceback."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import orjson
import psycopg

from tests.importer.test_import_export import Cli, roomtemp  # noqa: F401 - fixture

GOOD = "2026-11-20T08:00:00Z"


def rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_import_csv_rejects_overflowing_timestamps_and_huge_cells(
    roomtemp: Cli,  # noqa: F811
    db: psycopg.Connection[Any],
    tmp_path: Path,
) -> None:
    path, reject_file = tmp_path / "bad.csv", tmp_path / "r.csv"
    path.write_text(
        "building,room,value,unit,ts\n"
        f"hq,3.14,20,celsius,{GOOD}\n"
        "hq,3.14,20,celsius,0001-01-01T00:30:00+01:00\n"
        "hq,3.14,20,celsius,9999-12-31T23:00:00-01:00\n"
        f"hq,3.14,{'9' * 131_073},celsius,2026-11-20T08:15:00Z\n"
        "hq,3.14,21,celsius,2026-11-20T08:30:00Z\n"
    )
    done = roomtemp("import", str(path), "--rejects", str(reject_file))
    assert done.returncode == 1, done.stderr
    assert "accepted 2: inserted 2" in done.stdout
    assert "rejected 3" in done.stdout
    got = [(r["line"], r["field"], r["code"]) for r in rejects(reject_file)]
    assert got == [
        ("3", "ts", "value_error"),
        ("4", "ts", "value_error"),
        ("5", "", "unreadable_row"),
    ]
    assert "longer than 131,072 characters" in rejects(reject_file)[2]["message"]
    assert db.execute("SELECT count(*) FROM capture").fetchone() == (2,)


def test_import_ndjson_rejects_overflowing_timestamps(
    roomtemp: Cli,  # noqa: F811
    db: psycopg.Connection[Any],
    tmp_path: Path,
) -> None:
    rows = [
        {"building": "hq", "room": "r", "value": 20, "unit": "C", "ts": ts}
        for ts in (GOOD, "0001-01-01T00:30:00+01:00", "9999-12-31T23:00:00-01:00")
    ]
    path = tmp_path / "bad.ndjson"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    done = roomtemp("import", str(path), "--rejects", str(tmp_path / "r.csv"))
    assert done.returncode == 1, done.stderr
    assert "accepted 1: inserted 1" in done.stdout
    assert "rejected 2" in done.stdout


def test_import_csv_with_an_oversize_header_is_unreadable(
    roomtemp: Cli,  # noqa: F811
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(f"building,room,value,ts,{'x' * 131_073}\nhq,3.14,20,{GOOD},1\n")
    done = roomtemp("import", str(path))
    assert done.returncode == 2
    assert "the CSV header cannot be read" in done.stderr
