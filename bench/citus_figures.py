"""Issue 20's figures: the same bench scenarios on one PostgreSQL and on a 3-node Citus cluster
(a coordinator and two workers on loopback), in one run, on the same PostgreSQL binaries.

Per engine: migrations and `roomtemp maintain` as deployed, the rooms registered, ingest over HTTP
(one capture per request at c=64, batches of 1,000 and 10,000), then about 1 M captures loaded
with binary COPY (rollups rebuilt) and the latest average read at c=16 (and c=1). Both engines run
with durable settings (fsync, synchronous commit, full-page writes on). On one machine Citus is
slower (every statement crosses the coordinator, a worker and back over loopback); the point is
that every scenario runs there, and how much slower it is.

    python -m bench.citus_figures --bin-dir /usr/lib/postgresql/15/bin   # make citus-test built it
    python -m bench.citus_figures --quick --out /tmp/b                    # smoke (seconds)

Results: bench/results/citus-figures-<stamp>.json and .md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.run import DURABLE, ROOT, Bench, embedded, free_port, machine, rss_mb, server
from roomtemp.db import migrate
from tests.citus_cluster import WORKERS, citus_cluster

ENGINES = ("postgresql", "citus")


def _durable(nodes: int) -> dict[str, str]:
    """DURABLE with the memory split over the nodes that share this machine."""
    mb = int(DURABLE["shared_buffers"].removesuffix("MB"))
    return {**DURABLE, "shared_buffers": f"{max(128, mb // nodes)}MB"}


@contextlib.contextmanager
def engine(name: str, bin_dir: Path) -> Iterator[str]:
    if name == "citus":
        # max_connections stays the cluster's (workers open connections to each other).
        settings = {k: v for k, v in _durable(WORKERS + 1).items() if k != "max_connections"}
        with citus_cluster(bin_dir, "roomtemp_bench", settings) as url:
            yield url
        return
    with embedded(_durable(1), bin_dir) as url:
        yield url


def run_engine(name: str, args: argparse.Namespace, url: str) -> Bench:
    bench = Bench(args, url)
    migrate.upgrade(url)
    subprocess.run(
        [sys.executable, "-m", "roomtemp", "maintain"],
        env={**os.environ, "DATABASE_URL": url},
        check=True,
        cwd=ROOT,
    )
    env = {
        "DATABASE_URL": url, "WORKERS": "1", "LOG_LEVEL": "warning", "AUTH_REQUIRED": "false",
    }  # fmt: skip
    port = free_port()
    serve = [sys.executable, "-m", "roomtemp", "serve", "--port", str(port)]
    bench.data.register_rooms()
    with server(serve, env, port, "/readyz") as pid:
        origin = (bench.end - timedelta(days=400)).timestamp()
        for c in (1, 64):
            bench.load(port, "single", c, f"[{name}] POST 1 capture c={c}", ts_origin=origin + c)
        for i, size in enumerate((1000, 10000)):
            bench.load(
                port, "batch", 1, f"[{name}] POST batch of {size}", batch_size=size,
                ts_origin=origin + 10**7 * (i + 1),
            )  # fmt: skip
        bench.facts["rss_after_ingest_mb"] = rss_mb(pid)
    loaded = bench.data.grow_to(args.size, 0)
    label = f"{loaded * args.rooms / 1e6:g}M"
    with server(serve, env, port, "/readyz"):
        for c in (1, 16):
            bench.load(port, "latest", c, f"[{name}] [{label}] latest c={c}")
        bench.load(port, "overview", 16, f"[{name}] [{label}] overview c=16")
    return bench


def markdown(doc: dict[str, Any]) -> str:
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for eng, results in doc["results"].items():
        for r in results:
            what = r["label"].split("] ", 1)[1] if "] " in r["label"] else r["label"]
            rows.setdefault(what, {})[eng] = r
    out = [
        f"# Citus figures {doc['started']}",
        "",
        f"Machine: {doc['machine']}. Same PostgreSQL binaries for both ({doc['bin_dir']}), "
        "durable settings. Citus: a coordinator and two workers on loopback, 4 shards per table.",
        "",
        "| Scenario | PostgreSQL | Citus (3 nodes) | Citus / PostgreSQL |",
        "|---|---|---|---|",
    ]
    for what, by in rows.items():
        cells = []
        for eng in ENGINES:
            r = by.get(eng)
            if r is None:
                cells.append("—")
            elif r.get("items_per_s") and r["label"].split("] ")[-1].startswith("POST batch"):
                cells.append(f"{r['items_per_s']:,.0f} captures/s, p50 {r['p50_ms']:.1f} ms")
            else:
                cells.append(f"{r['req_per_s']:,.0f} req/s, p50 {r['p50_ms']:.2f} ms")
        ratio = "—"
        if all(e in by for e in ENGINES):
            key = "items_per_s" if what.startswith("POST batch") else "req_per_s"
            base = by["postgresql"].get(key) or 0
            if base:
                ratio = f"{by['citus'][key] / base:.2f}"
        errors = sum(int(by[e].get("errors", 0)) for e in by)
        note = f" (errors: {errors})" if errors else ""
        out.append(f"| {what}{note} | {' | '.join(cells)} | {ratio} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--bin-dir", type=Path, default=Path("/usr/lib/postgresql/15/bin"))
    p.add_argument("--quick", action="store_true", help="tiny sizes, 0.5 s per scenario")
    p.add_argument("--duration", type=float, default=6.0, help="seconds per scenario")
    p.add_argument("--rooms", type=int, default=1000)
    p.add_argument("--buildings", type=int, default=2)
    p.add_argument("--size", type=int, default=1_000_000, help="captures before the reads")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    p.add_argument("--engines", default=",".join(ENGINES), help="a subset, comma-separated")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.rooms, args.size = 0.5, 20, 4000
    args.hist_rooms, args.hist_every, args.workers = 0, 60, 1  # what Bench and Dataset read
    started = datetime.now(UTC)
    doc: dict[str, Any] = {
        "started": started.isoformat(),
        "machine": machine(),
        "bin_dir": str(args.bin_dir),
        "params": {k: str(v) for k, v in vars(args).items()},
        "results": {},
        "facts": {},
    }
    for name in str(args.engines).split(","):
        with engine(name, args.bin_dir) as url:
            bench = run_engine(name, args, url)
        doc["results"][name] = bench.results
        doc["facts"][name] = bench.facts
    doc["finished"] = datetime.now(UTC).isoformat()
    doc["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    stamp = started.strftime("%Y%m%dT%H%M%S")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"citus-figures-{stamp}.json").write_text(json.dumps(doc, indent=1, default=str))
    text = markdown(doc)
    (args.out / f"citus-figures-{stamp}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
