"""The benchmark runs end to end in --quick mode and writes its results (never checks timings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_quick_bench_writes_json_and_markdown(database_url: str, tmp_path: Path) -> None:
    # A scratch database next to the test database: no second PostgreSQL to start.
    env = {**os.environ, "BENCH_DATABASE_URL": database_url}
    subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=230,
    )
    doc = json.loads((tmp_path / "latest.json").read_text())
    labels = {r["label"] for r in doc["results"]}
    for expected in ("trivial c=64", "POST 1 capture c=1", "POST 1 capture c=64",
                     "POST batch of 10000", "[0.004M] latest c=16",
                     "[0.004M] series30d c=1 (rollups off)", "[0.004M] buckets1y1d c=1",
                     "[0.004M] buckets24h1h_building c=1"):  # fmt: skip
        assert expected in labels
    for read in ("latest", "overview", "series24h", "series30d"):  # each with its reference
        assert f"[0.004M] {read} c=1" in labels
        assert f"[0.004M] {read}, bare FastAPI + psycopg c=1" in labels
    # no errors: the service's reads and writes carried valid tokens (auth is on)
    assert all(r["errors"] == 0 for r in doc["results"]), doc["results"]
    served = [r for r in doc["results"] if "SQL direct" not in r["label"]]
    assert all(r["service_cpu_ms"] > 0 for r in served), served
    # BENCH_DATABASE_URL: a server the bench did not start, its CPU unknown
    assert all(r["db_cpu_ms"] is None for r in served)
    assert doc["facts"]["import_file"]["rows"] == 2000
    assert {s["label"] for s in doc["facts"]["storage_compacted"]} == {"0.004M"}
    assert {s["label"] for s in doc["facts"]["storage"]} == {"0.002M", "0.004M"}
    assert doc["facts"]["history"]["rows"] == 2 * (365 * 24 + 1)
    assert all(s["bytes_per_capture"] > 0 for s in doc["facts"]["storage"])
    assert any(k.endswith("series30d_rollup") for k in doc["explain"])
    md = (tmp_path / "latest.md").read_text()
    assert "| POST 1 capture c=64 |" in md
    assert "## The latest average's plan at each size" in md
    assert "| [0.004M] storage ≤ 81 B per capture after compaction |" in md
