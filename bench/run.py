"""The benchmark: roomtemp as it ships against a durable PostgreSQL on this machine.

One run measures the ceilings (trivial FastAPI endpoint, binary COPY, the latest-average SQL
straight through psycopg, and per read a bare endpoint running the service's SQL), the service
as shipped (auth on with a read and an ingest token, metrics, request ids, JSON access log to a
file): ingest over HTTP at c=1 to 64, `roomtemp import` of a CSV file, reads at two table sizes,
with the CPU per request of the server and of PostgreSQL; storage as loaded and after
compaction, resource use, and EXPLAIN (ANALYZE, BUFFERS) of each read query. Results:
bench/results/<stamp>.json and .md (and latest.json / latest.md); issue 19's target table in
the .md (bench/report.py; `python -m bench.report --compare A.json B.json` for two runs).

    python -m bench.run                 # default sizes, ~15 min on 2 cores
    python -m bench.run --quick --out /tmp/b   # smoke run (seconds)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
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

from bench import cpu, direct_sql, report
from bench.dataset import Dataset
from bench.loadgen import BUCKETS
from bench.report_scenario import period_report
from roomtemp.db import migrate
from roomtemp.embedded import EmbeddedPostgres
from tests.postgres_provider import libpq_conninfo, scratch_database, sqlalchemy_url

ROOT = Path(__file__).resolve().parent.parent
READS = ("latest", "series24h", "series30d", "overview")


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
def server(
    cmd: list[str], env: dict[str, str], port: int, ready: str, log: Path | None = None
) -> Iterator[int]:
    """The server `cmd` until the block ends; its stdout (the JSON access log) appended to `log`
    if given, not the bench's console."""
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(log.open("a")) if log else None
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT, stdout=out)  # noqa: S603
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
        #: API tokens by scope ("read", "ingest"), sent to the service (not the references)
        self.tokens: dict[str, str] = {}
        self.log: Path | None = None  # where the servers' stdout goes
        self.pid = 0  # the server the load goes to: its CPU is measured
        self.to_service = False
        # PostgreSQL's CPU is measured when it is the embedded server started here: the
        # postmaster is a backend's parent. Another server's is unknown ("-").
        self.db_pid = 0
        if not os.environ.get("BENCH_DATABASE_URL", "").strip():
            with psycopg.connect(self.conninfo) as conn:
                row = conn.execute("SELECT pg_backend_pid()").fetchone()
            self.db_pid = (cpu.parent_of(int(row[0])) if row else None) or 0

    @contextlib.contextmanager
    def running(
        self, cmd: list[str], env: dict[str, str], port: int, ready: str, *, service: bool
    ) -> Iterator[int]:
        """A server the loads of the block go to (`service`: roomtemp, which gets the tokens)."""
        with server(cmd, env, port, ready, self.log) as pid:
            self.pid, self.to_service = pid, service
            try:
                yield pid
            finally:
                self.pid, self.to_service = 0, False

    def create_token(self, env: dict[str, str], scope: str) -> str:
        """A token made the way an operator makes one (`roomtemp token create`)."""
        out = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "roomtemp", "token", "create", "--scope", scope,
             "--name", f"bench-{scope}"],
            env={**os.environ, **env}, capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        return next(
            line.split()[1] for line in out.stdout.splitlines() if line.startswith("token:")
        )

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
        if self.to_service and self.tokens:
            extra["token"] = self.tokens["ingest" if scenario in ("single", "batch") else "read"]
        if self.pid:
            extra["server_pid"] = self.pid
        if self.db_pid:
            extra["db_pid"] = self.db_pid
        for k, v in extra.items():
            cmd += [f"--{k.replace('_', '-')}", str(v)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)  # noqa: S603
        if out.stderr:
            print(out.stderr, file=sys.stderr, end="")
        result = {"label": label, **json.loads(out.stdout)}
        print(json.dumps(result), flush=True)
        self.results.append(result)

    # -- direct SQL: the query ceiling and EXPLAIN (bench/direct_sql.py) ------------------
    def query_ceiling(self, label: str, concurrency: int) -> None:
        result = {"label": label, **direct_sql.ceiling(self.conninfo, self.args, concurrency)}
        print(json.dumps(result), flush=True)
        self.results.append(result)

    def explain(self, size_label: str) -> None:
        for name, plan in direct_sql.explain(self.conninfo, self.end).items():
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
        # As shipped: auth on (a read and an ingest token, made as an operator makes them, with a
        # random key), metrics, request ids and the JSON access log at the default level (info;
        # to a file). The per-token rate limit (default 50/s) is set out of reach, its check
        # still runs: one token sends the whole load.
        env = {
            "DATABASE_URL": self.url, "WORKERS": str(a.workers), "AUTH_REQUIRED": "true",
            "TOKEN_HASH_KEY": secrets.token_urlsafe(32), "RATE_LIMIT_PER_SECOND": "1e9",
            "RATE_LIMIT_BURST": "1000000000",
        }  # fmt: skip
        self.tokens = {scope: self.create_token(env, scope) for scope in ("read", "ingest")}
        port = free_port()
        uvicorn = [
            sys.executable, "-m", "uvicorn", "bench.trivial_app:app", "--port", str(port),
            "--workers", str(a.workers), "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        full = a.only == "all"
        if full:
            with self.running(uvicorn, {"DATABASE_URL": self.url}, port, "/ping", service=False):
                for c in (16, 64) if a.quick else (1, 16, 64):
                    self.load(port, "trivial", c, f"trivial c={c}")

        serve = [sys.executable, "-m", "roomtemp", "serve", "--port", str(port)]
        self.data.register_rooms()
        if full:
            self.ingest(serve, env, port)

        loaded = 0
        label = ""
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
            with self.running(serve, env, port, "/readyz", service=True) as pid:
                if full:
                    for scenario in READS:
                        for c in self.read_concurrency(scenario):
                            self.load(port, scenario, c, f"[{label}] {scenario} c={c}")
                    self.facts[f"rss_after_reads_{label}_mb"] = rss_mb(pid)
                if last:
                    for scenario in BUCKETS:
                        if a.hist_rooms or BUCKETS[scenario][2] != "hist":
                            self.load(port, scenario, 1, f"[{label}] {scenario} c=1")
            if full:
                off = {**env, "ROLLUP_READS": "false"}
                with self.running(serve, off, port, "/readyz", service=True):
                    self.load(port, "series30d", 1, f"[{label}] series30d c=1 (rollups off)")
                    if not a.quick:
                        self.load(port, "series24h", 1, f"[{label}] series24h c=1 (rollups off)")
        if full:  # last: it changes the indexes the reads above ran on
            self.data.compact(self.url, label)

    def read_concurrency(self, scenario: str) -> tuple[int, ...]:
        """Concurrencies of a read, the same for the service and its bare reference."""
        return (1,) if self.args.quick and scenario != "latest" else (1, 16)

    def ingest(self, serve: list[str], env: dict[str, str], port: int) -> None:
        a = self.args
        with self.running(serve, env, port, "/readyz", service=True) as pid:
            origin = (self.end - timedelta(days=400)).timestamp()
            for i, c in enumerate((1, 64) if a.quick else (1, 16, 64)):
                self.load(port, "single", c, f"POST 1 capture c={c}", ts_origin=origin + i * 10**6)
            for i, size in enumerate((1000, 10000)):
                self.load(
                    port, "batch", 1, f"POST batch of {size}", batch_size=size,
                    ts_origin=origin + 10**7 * (i + 1),
                )  # fmt: skip
            self.facts["rss_after_ingest_mb"] = rss_mb(pid)
        if getattr(a, "import_rows", 0):
            self.import_file(a.import_rows)

    def import_file(self, rows: int) -> None:
        """`roomtemp import` of a CSV file of `rows` new captures (50 rooms of a new building,
        auto-registered), timed end to end: interpreter start, parse, validate, store."""
        from bench.import_speed import write_file

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "captures.csv"
            write_file(path, self.end - timedelta(days=300), rows)
            t0 = time.perf_counter()
            out = subprocess.run(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "roomtemp", "import", str(path)],
                env={**os.environ, "DATABASE_URL": self.url},
                capture_output=True, text=True, cwd=ROOT,
            )  # fmt: skip
            seconds = time.perf_counter() - t0
        if out.returncode != 0:  # 1: some rows rejected; every row here is new and valid
            raise RuntimeError(f"roomtemp import exited {out.returncode}: {out.stderr[-2000:]}")
        self.facts["import_file"] = {
            "rows": rows, "format": "csv", "seconds": round(seconds, 2),
            "rows_per_s": round(rows / seconds),
        }  # fmt: skip
        print(f"roomtemp import: {self.facts['import_file']}", flush=True)

    def references(self, uvicorn: list[str], port: int, label: str, loaded: int) -> None:
        """What the reads are compared with: the SQL alone, its plans, the bare endpoints."""
        a = self.args
        if not a.quick:
            self.query_ceiling(f"[{label}] latest SQL direct c=1", 1)
        self.query_ceiling(f"[{label}] latest SQL direct c=16", 16)
        self.explain(label)
        span = (self.end - timedelta(minutes=loaded - 1), self.end + timedelta(minutes=1))
        self.facts[f"report_{label}"] = period_report(self.url, "b0", *span, 1 if a.quick else 3)
        with self.running(uvicorn, {"DATABASE_URL": self.url}, port, "/ping", service=False):
            for scenario in READS:
                for c in self.read_concurrency(scenario):
                    self.load(
                        port, scenario, c, f"[{label}] {scenario}, bare FastAPI + psycopg c={c}"
                    )
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
    p.add_argument(
        "--import-rows", type=int, default=200_000,
        help="captures in the file `roomtemp import` loads (0: no import scenario)",
    )  # fmt: skip
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.rooms, args.buildings, args.sizes = 0.3, 20, 2, "2000,4000"
        args.hist_rooms, args.hist_every, args.import_rows = 2, 60, 2000
    args.sizes = [int(s) for s in str(args.sizes).split(",")]
    # SIGTERM unwinds like Ctrl-C, so the servers and the PostgreSQL we started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = datetime.now(UTC)
    mach = machine()
    with database() as url, tempfile.TemporaryDirectory(prefix="roomtemp-bench-log-") as logs:
        bench = Bench(args, url)
        bench.log = Path(logs) / "servers.log"
        bench.run()
        if bench.log.exists():
            bench.facts["server_log_bytes"] = bench.log.stat().st_size
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
