"""With WORKERS > 1, /metrics adds up all worker processes (prometheus-client multiprocess)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx2 as httpx
import psycopg

from tests.system.ops.server import live_server


def _value(text: str, prefix: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(prefix):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_are_aggregated_across_workers(
    database_url: str, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    multiproc = tmp_path / "prom"
    with live_server(
        database_url, tmp_path, WORKERS="2", PROMETHEUS_MULTIPROC_DIR=str(multiproc)
    ) as server:
        requests = 40
        pids: set[str] = set()
        for _ in range(requests):
            # A new connection each time, so both workers get requests.
            httpx.get(f"{server.url}/healthz", headers={"Connection": "close"}, timeout=10)
        pids = {f.name.split("_")[-1] for f in multiproc.glob("*.db")}
        scrapes = [httpx.get(f"{server.url}/metrics", timeout=10).text for _ in range(4)]
    assert len(pids) >= 2, f"expected files of 2 workers, got {sorted(pids)}"
    for text in scrapes:
        # Whichever worker answers, the count is the sum over both.
        count = _value(text, 'roomtemp_http_requests_total{method="GET",route="/healthz"')
        assert count == requests, text[:2000]
        assert len(re.findall(r"^roomtemp_build_info\{", text, re.M)) == 1
