"""`roomtemp import` with a sensor column: sensor rows beside building/room rows, unknown keys set
aside as rejects and recorded in unknown_sensor, battery kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.capture.test_sensor_ingest import register, stored
from tests.importer.test_import_export import Cli, assert_rollups_match_raw


@pytest.fixture
def roomtemp(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    return Cli(database_url, monkeypatch, capsys)


def test_import_csv_with_a_sensor_column(
    roomtemp: Cli, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    db.execute("DELETE FROM unknown_sensor")
    register(db, "zb-1")
    register(db, "zb-2")
    path = tmp_path / "mixed.csv"
    path.write_text(
        "ts,value,unit,sensor,building,room,battery\n"
        "2026-11-22T10:00:00Z,21,celsius,zb-1,,,90\n"
        "2026-11-22T10:00:00Z,22,celsius,zb-2,,,\n"
        "2026-11-22T10:00:00Z,23,celsius,,hq,3.14,\n"
        "2026-11-22T10:01:00Z,24,celsius,zb-404,,,\n"
        "2026-11-22T10:02:00Z,25,celsius,zb-1,hq,,\n"
    )
    done = roomtemp("import", str(path), "--rejects", str(tmp_path / "rejects.csv"))
    assert done.returncode == 1, done.stderr
    assert "accepted 3: inserted 3" in done.stdout
    assert "rejected 2" in done.stdout
    rejects = (tmp_path / "rejects.csv").read_text()
    assert "unknown_sensor" in rejects
    assert "mixed_forms" in rejects
    assert [(s, v) for _, s, _, v in stored(db)] == [(None, 23.0), ("zb-1", 21.0), ("zb-2", 22.0)]
    assert db.execute("SELECT key, refused FROM unknown_sensor").fetchall() == [("zb-404", 1)]
    assert db.execute("SELECT battery FROM sensor_status").fetchall() == [(90.0,)]
    assert_rollups_match_raw(db)
    again = roomtemp("import", str(path))
    assert "accepted 3: inserted 0, duplicates 3, updated 0" in again.stdout
    assert db.execute("SELECT refused FROM unknown_sensor").fetchall() == [(2,)]
