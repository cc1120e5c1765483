"""The benchmark: roomtemp as it ships against a durable PostgreSQL on this machine.

One run measures the ceilings (trivial FastAPI endpoint, binary COPY, the latest-average SQL
straight through psycopg), ingest over HTTP, reads at two table sizes, resource use, and saves
EXPLAIN (ANALYZE, BUFFERS) of each read query. Results: bench/results/<stamp>.json and .md
(and latest.json / latest.md).

    python -m bench.run                 # default sizes, ~15 min on 2 cores
    python -m bench.run --quick --out /tmp/b   # smoke run (seconds)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench import report
from bench.dataset import Dataset
from bench.loadgen import BUCKETS
from bench.report_scenario import period_report
from roomtemp.average import overview_queries
from roomtemp.average import queries as avg_queries
from roomtemp.db import migrate
from roomtemp.db.driver import psycopg_sql
from roomtemp.embedded import EmbeddedPostgres
from tests.postgres_provider import libpq_conninfo, scratch_database, sqlalchemy_url

ROOT = Path(__file__).resolve().parent.parent


def _shared_buffers() -> str:
    """A quarter of the RAM, at most 8 GB: PostgreSQL's usual sizing for a dedicated server."""
    try:
        total_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return "512MB"
    return f"{max(128, min(8192, total_kb // 4 // 1024))}MB"


# An acknowledged capture must be durable: the benchmark runs with PostgreSQL's safe defaults
# spelled out (the test suite turns them off for speed).
DURABLE = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "shared_buffers": _shared_buffers(),
    "max_connections": "200",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def database() -> Iterator[str]:
    explicit = os.environ.get("BENCH_DATABASE_URL", "").strip()
    if explicit:
        with scratch_database(explicit) as url:
            yield url
        return
    with embedded(DURABLE) as url:
        yield url


@contextlib.contextmanager
def embedded(settings: dict[str, str], bin_dir: Path | None = None) -> Iterator[str]:
    """A throwaway embedded PostgreSQL with these settings (bin_dir: another server's binaries)."""
    base = Path(tempfile.mkdtemp(prefix="roomtemp-bench-pg-"))
    try:
        base.chmod(0o711)
        with EmbeddedPostgres(
            base / "data", database="roomtemp_bench", server_settings=settings, bin_dir=bin_dir
        ) as url:
            yield url
    finally:
        shutil.rmtree(base, ignore_errors=True)


def wait_http(port: int, path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server on port {port} did not answer {path}")
        time.sleep(0.1)


@contextlib.contextmanager
def server(cmd: list[str], env: dict[str, str], port: int, ready: str) -> Iterator[int]:
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT)  # noqa: S603
    try:
        wait_http(port, ready)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_mb(pid: int) -> float:
    """Largest resident set among the process and its children (uvicorn workers)."""
    pids = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                pids.append(int(stat.parent.name))
    best = 0.0
    for p in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    best = max(best, int(line.split()[1]) / 1024)
    return round(best, 1)


class Bench:
    def __init__(self, args: argparse.Namespace, url: str) -> None:
        self.args = args
        self.url = url
        self.conninfo = libpq_conninfo(sqlalchemy_url(url))
        self.results: list[dict[str, Any]] = []
        self.facts: dict[str, Any] = {}
        self.explains: dict[str, str] = {}
        self.end = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=30)
        self.data = Dataset(args, self.conninfo, self.end, self.facts)

    # -- load generator -------------------------------------------------------------------
    def load(self, port: int, scenario: str, concurrency: int, label: str, **extra: Any) -> None:
        cmd = [
            sys.executable, "-m", "bench.loadgen", "--port", str(port), "--scenario", scenario,
            "--concurrency", str(concurrency), "--duration", str(self.args.duration),
            "--rooms", str(self.args.rooms), "--buildings", str(self.args.buildings),
            "--now", str(self.end.timestamp()),
            "--warmup", str(0.2 if self.args.quick else 1.0),
            "--hist-rooms", str(self.args.hist_rooms),
        ]  # fmt: skip
        for k, v in extra.items():
            cmd += [f"--{k.replace('_', '-')}", str(v)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)  # noqa: S603
        if out.stderr:
            print(out.stderr, file=sys.stderr, end="")
        result = {"label": label, **json.loads(out.stdout)}
        print(json.dumps(result), flush=True)
        self.results.append(result)

    # -- direct SQL: the query ceiling and EXPLAIN ----------------------------------------

    def _params(self, room_id: int) -> dict[str, Any]:
        end = datetime.now(UTC)
        return {
            "room_id": room_id,
            "sensor_type_id": 1,
            "start": end - timedelta(minutes=15),
            "end": end,
        }

    def query_ceiling(self, label: str, concurrency: int) -> None:
        sql = psycopg_sql(avg_queries._WINDOW)

        async def one(deadline: float, lat: list[float], seed: int) -> None:
            rng = random.Random(seed)  # noqa: S311 - load pattern, not security
            async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as c:
                while time.perf_counter() < deadline:
                    t0 = time.perf_counter()
                    await (
                        await c.execute(sql, self._params(rng.randrange(self.args.rooms) + 1))
                    ).fetchall()
                    lat.append(time.perf_counter() - t0)

        async def main() -> dict[str, Any]:
            lat: list[float] = []
            t0 = time.perf_counter()
            deadline = t0 + self.args.duration
            await asyncio.gather(*(one(deadline, lat, s) for s in range(concurrency)))
            el = time.perf_counter() - t0
            lat.sort()
            return {
                "scenario": "latest_sql",
                "concurrency": concurrency,
                "seconds": round(el, 3),
                "requests": len(lat),
                "errors": 0,
                "req_per_s": round(len(lat) / el, 1),
                "p50_ms": lat[len(lat) // 2] * 1000,
                "p95_ms": lat[int(len(lat) * 0.95)] * 1000,
                "p99_ms": lat[int(len(lat) * 0.99)] * 1000,
            }

        result = {"label": label, **asyncio.run(main())}
        print(json.dumps(result), flush=True)
        self.results.append(result)

    def explain(self, size_label: str) -> None:
        end = self.end
        room_id, building_id = 1, 1
        p = {"room_id": room_id, "sensor_type_id": 1, "building_id": building_id}
        cases: dict[str, tuple[Any, dict[str, Any]]] = {
            "latest": (
                avg_queries._WINDOW,
                {**p, "start": end - timedelta(minutes=15), "end": end},
            ),
            "overview": (
                overview_queries._OVERVIEW,
                {**p, "start": end - timedelta(minutes=15), "end": end},
            ),
        }
        for name, span in (("series24h", timedelta(hours=24)), ("series30d", timedelta(days=30))):
            sp = {**p, "first": end - span + timedelta(minutes=15), "last": end,
                  "step": timedelta(minutes=15), "window": timedelta(minutes=15)}  # fmt: skip
            cases[f"{name}_raw"] = (avg_queries._SERIES, sp)
            cases[f"{name}_rollup"] = (avg_queries.SERIES_15M, sp)
        # Rolling hourly windows read the 15-minute rollups (four rows per window): the 1-hour
        # pieces are left-closed since migration 0009, the other side of (t - 1h, t].
        sp = {**p, "first": end - timedelta(days=30) + timedelta(hours=1), "last": end,
              "step": timedelta(hours=1), "window": timedelta(hours=1)}  # fmt: skip
        cases["series30d_1h_rollup"] = (avg_queries.SERIES_15M, sp)
        with psycopg.connect(self.conninfo) as conn:
            for name, (stmt, params) in cases.items():
                sql = "EXPLAIN (ANALYZE, BUFFERS) " + psycopg_sql(stmt)
                plan = "\n".join(r[0] for r in conn.execute(sql, params))
                self.explains[f"{size_label}/{name}"] = plan

    # -- the run --------------------------------------------------------------------------
    def run(self) -> None:
        a = self.args
        migrate.upgrade(self.url)
        # As deployed: the maintenance job has created this month's partition and the next ones.
        subprocess.run(
            [sys.executable, "-m", "roomtemp", "maintain"],
            env={**os.environ, "DATABASE_URL": self.url},
            check=True,
            cwd=ROOT,
        )
        # Measured without API tokens (loadgen sends none); with AUTH_REQUIRED each request adds
        # one indexed token lookup.
        env = {
            "DATABASE_URL": self.url, "WORKERS": str(a.workers), "LOG_LEVEL": "warning",
            "AUTH_REQUIRED": "false",
        }  # fmt: skip
        port = free_port()
        uvicorn = [
            sys.executable, "-m", "uvicorn", "bench.trivial_app:app", "--port", str(port),
            "--workers", str(a.workers), "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        full = a.only == "all"
        if full:
            with server(uvicorn, {"DATABASE_URL": self.url}, port, "/ping"):
                for c in (16, 64) if a.quick else (1, 16, 64):
                    self.load(port, "trivial", c, f"trivial c={c}")

        serve = [sys.executable, "-m", "roomtemp", "serve", "--port", str(port)]
        self.data.register_rooms()
        if full:
            self.ingest(serve, env, port)

        loaded = 0
        for n, size in enumerate(a.sizes):
            last = n == len(a.sizes) - 1
            if last and a.hist_rooms:
                minutes = max(1, size // a.rooms)
                self.data.load_history(
                    self.end - timedelta(minutes=max(1, a.sizes[0] // a.rooms) - 1),
                    self.end - timedelta(minutes=minutes - 1),
                )
            loaded = self.data.grow_to(size, loaded)
            label = f"{loaded * a.rooms / 1e6:g}M"
            self.data.storage(label)
            if full:
                self.references(uvicorn, port, label, loaded)
            with server(serve, env, port, "/readyz") as pid:
                if full:
                    for scenario in ("latest", "series24h", "series30d", "overview"):
                        for c in (1,) if a.quick and scenario != "latest" else (1, 16):
                            self.load(port, scenario, c, f"[{label}] {scenario} c={c}")
                    self.facts[f"rss_after_reads_{label}_mb"] = rss_mb(pid)
                if last:
                    for scenario in BUCKETS:
                        if a.hist_rooms or BUCKETS[scenario][2] != "hist":
                            self.load(port, scenario, 1, f"[{label}] {scenario} c=1")
            if full:
                with server(serve, {**env, "ROLLUP_READS": "false"}, port, "/readyz"):
                    self.load(port, "series30d", 1, f"[{label}] series30d c=1 (rollups off)")
                    if not a.quick:
                        self.load(port, "series24h", 1, f"[{label}] series24h c=1 (rollups off)")

    def ingest(self, serve: list[str], env: dict[str, str], port: int) -> None:
        a = self.args
        with server(serve, env, port, "/readyz") as pid:
            origin = (self.end - timedelta(days=400)).timestamp()
            for i, c in enumerate((64,) if a.quick else (1, 16, 64)):
                self.load(port, "single", c, f"POST 1 capture c={c}", ts_origin=origin + i * 10**6)
            for i, size in enumerate((1000, 10000)):
                self.load(
                    port, "batch", 1, f"POST batch of {size}", batch_size=size,
                    ts_origin=origin + 10**7 * (i + 1),
                )  # fmt: skip
            self.facts["rss_after_ingest_mb"] = rss_mb(pid)

    def references(self, uvicorn: list[str], port: int, label: str, loaded: int) -> None:
        """What the reads are compared with: the SQL alone, its plans, the bare endpoints."""
        a = self.args
        if not a.quick:
            self.query_ceiling(f"[{label}] latest SQL direct c=1", 1)
        self.query_ceiling(f"[{label}] latest SQL direct c=16", 16)
        self.explain(label)
        span = (self.end - timedelta(minutes=loaded - 1), self.end + timedelta(minutes=1))
        self.facts[f"report_{label}"] = period_report(self.url, "b0", *span, 1 if a.quick else 3)
        with server(uvicorn, {"DATABASE_URL": self.url}, port, "/ping"):
            for c in (16,) if a.quick else (1, 16):
                self.load(port, "latest", c, f"[{label}] latest, bare FastAPI + psycopg c={c}")
            for c in (16,) if a.quick else (1, 16):
                self.load(
                    port, "latest", c, f"[{label}] latest, bare sync FastAPI + psycopg c={c}",
                    prefix="/sync",
                )  # fmt: skip


def write_results(out: Path, name: str, doc: dict[str, Any], text: str) -> Path:
    """`out/<name>.json` (the figures, for tools) and `out/<name>.md` (`text`, for people);
    returns the .md path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    md = out / f"{name}.md"
    md.write_text(text)
    return md


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError):
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    load = os.getloadavg()
    return {
        "host": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mb": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes and 1 s per scenario (smoke)")
    p.add_argument("--duration", type=float, default=6.0, help="seconds per scenario")
    p.add_argument("--rooms", type=int, default=1000)
    p.add_argument("--buildings", type=int, default=2, help="rooms are split evenly")
    p.add_argument("--sizes", default="1000000,20000000", help="table sizes for the reads")
    p.add_argument("--workers", type=int, default=1, help="uvicorn workers (both servers)")
    p.add_argument("--hist-rooms", type=int, default=10, help="rooms with a year (0: none)")
    p.add_argument(
        "--only", choices=("all", "buckets"), default="all",
        help="buckets: load the data, then only the bucket reads (issue 16's targets)",
    )  # fmt: skip
    p.add_argument("--hist-every", type=int, default=5, help="their capture interval, minutes")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.rooms, args.buildings, args.sizes = 0.3, 20, 2, "2000,4000"
        args.hist_rooms, args.hist_every = 2, 60
    args.sizes = [int(s) for s in str(args.sizes).split(",")]
    # SIGTERM unwinds like Ctrl-C, so the servers and the PostgreSQL we started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = datetime.now(UTC)
    mach = machine()
    with database() as url:
        bench = Bench(args, url)
        bench.run()
        with psycopg.connect(bench.conninfo) as conn:
            pg_version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            settings = {
                k: str(conn.execute(f"SHOW {k}").fetchone()[0])  # type: ignore[index]
                for k in DURABLE
            }
    doc = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "quick": args.quick,
        "machine": {**mach, "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
        "postgres": {"version": pg_version, "settings": settings},
        "params": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "results": bench.results,
        "facts": bench.facts,
        "explain": bench.explains,
    }
    report.write(doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
