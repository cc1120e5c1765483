"""bench.import_speed runs end to end on tiny sizes and writes its results (never timings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_import_speed_bench_writes_json(database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "BENCH_DATABASE_URL": database_url}  # a scratch database beside it
    args = ["--rows", "400", "--chunks", "100,400", "--staging-runs", "3", "--preload", "1000"]
    subprocess.run(
        [sys.executable, "-m", "bench.import_speed", *args, "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=110,
    )
    (path,) = tmp_path.glob("import-*.json")
    doc = json.loads(path.read_text())
    assert [(r["chunk"], r["path"]) for r in doc["results"]] == [
        (100, "statement"),
        (100, "staged"),
        (400, "statement"),
        (400, "staged"),
    ]
    for r in doc["results"]:  # both paths count the same
        assert (r["insert_counts"], r["duplicate_counts"], r["update_counts"]) == (
            [400, 0, 0],
            [0, 400, 0],
            [0, 0, 400],
        )
        assert r["file_rows_per_s"] > 0
    assert doc["facts"]["preload"]["rows"] == 1000
    assert doc["facts"]["staging"]["with_staging_table_ms"] > 0
