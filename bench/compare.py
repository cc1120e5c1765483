"""Before/after in one run: the benchmark of another revision, then of this checkout, compared.

The other revision (default: the last commit before sensors, issue 15) is checked out into a
temporary git worktree and its own `bench/run.py` runs there against its own schema, with this
virtualenv's interpreter (its code first on the path); then this checkout's bench runs. Both use
the same machine, sizes and durations, one after the other, and each writes its own full result.
The comparison (storage per capture, read throughput and latency per table size) goes to
bench/results/compare-<stamp>.{json,md}.

    python -m bench.compare                          # 1 M and 20 M captures, ~30 min on 2 cores
    python -m bench.compare --quick --out /tmp/b     # smoke run (tiny sizes; numbers mean nothing)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BEFORE_SENSORS = "c7f6d23"  # main just before the sensor schema (migration 0007)
READS = ("latest", "series24h", "series30d", "overview")
SLOWER_ALLOWED = 0.10  # the bound: reads may not get more than 10 % slower


def _git(*args: str) -> str:
    return subprocess.run(  # noqa: S603 - fixed git arguments
        ["git", *args],  # noqa: S607
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def run_bench(checkout: Path, out: Path, bench_args: list[str]) -> dict[str, Any]:
    """`python -m bench.run` in `checkout` (its code first on sys.path); its result document."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{checkout / 'service'}{os.pathsep}{checkout}"}
    subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.run", "--out", str(out), *bench_args],
        cwd=checkout,
        env=env,
        check=True,
    )
    doc: dict[str, Any] = json.loads((out / "latest.json").read_text())
    return doc


def _result(doc: dict[str, Any], label: str) -> dict[str, Any] | None:
    return next((r for r in doc["results"] if r["label"] == label), None)


def compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Storage rows and read rows, each with before, after and after/before."""
    storage = []
    for b, a in zip(before["facts"]["storage"], after["facts"]["storage"], strict=True):
        row = {"size": a["label"], "captures": [b["captures"], a["captures"]]}
        for key in (
            "bytes_per_capture",
            "heap_bytes_per_capture",
            "index_bytes_per_capture",
            "rollup_bytes_per_capture",
        ):
            row[key] = [b[key], a[key]]
        storage.append(row)
    reads = []
    sizes = [s["label"] for s in after["facts"]["storage"]]
    for size in sizes:
        for scenario in READS:
            for c in (1, 16):
                label = f"[{size}] {scenario} c={c}"
                b, a = _result(before, label), _result(after, label)
                if b is None or a is None:
                    continue
                ratio = a["req_per_s"] / b["req_per_s"] if b["req_per_s"] else None
                reads.append(
                    {
                        "label": label,
                        "req_per_s": [b["req_per_s"], a["req_per_s"]],
                        "p50_ms": [b["p50_ms"], a["p50_ms"]],
                        "p99_ms": [b["p99_ms"], a["p99_ms"]],
                        "throughput_ratio": ratio,
                        "slower_than_allowed": ratio is not None and ratio < 1 - SLOWER_ALLOWED,
                    }
                )
    return {"storage": storage, "reads": reads}


def _f(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def markdown(doc: dict[str, Any]) -> str:
    b, a = doc["before"], doc["after"]
    lines = [
        f"# Before/after benchmark, {doc['started'][:16].replace('T', ' ')} UTC",
        "",
        f"Before: `{b['revision']}` ({b['subject']}). After: `{a['revision']}` ({a['subject']}).",
        f"One invocation of `python -m bench.compare {' '.join(doc['bench_args'])}`, the two "
        "benchmarks one after the other on the same machine. Load average at the start "
        f"{doc['loadavg'][0]}, between the runs {doc['loadavg'][1]}, "
        f"at the end {doc['loadavg'][2]}.",
        "",
        "## Storage per capture (heap + indexes; rollups apart)",
        "",
        "| size | captures (before / after) | total B | heap B | index B | rollups B |",
        "|---|---|---|---|---|---|",
    ]
    for s in doc["comparison"]["storage"]:
        lines.append(
            f"| {s['size']} | {s['captures'][0]:,} / {s['captures'][1]:,} | "
            + " | ".join(
                f"{_f(s[k][0])} → {_f(s[k][1])}"
                for k in (
                    "bytes_per_capture",
                    "heap_bytes_per_capture",
                    "index_bytes_per_capture",
                    "rollup_bytes_per_capture",
                )
            )
            + " |"
        )
    lines += [
        "",
        f"## Reads (after/before throughput; more than {SLOWER_ALLOWED:.0%} slower is flagged)",
        "",
        "| scenario | req/s before → after | ratio | p50 ms | p99 ms | |",
        "|---|---|---|---|---|---|",
    ]
    for r in doc["comparison"]["reads"]:
        lines.append(
            f"| {r['label']} | {_f(r['req_per_s'][0], 0)} → {_f(r['req_per_s'][1], 0)} | "
            f"{_f((r['throughput_ratio'] or 0) * 100, 0)} % | "
            f"{_f(r['p50_ms'][0], 2)} → {_f(r['p50_ms'][1], 2)} | "
            f"{_f(r['p99_ms'][0], 2)} → {_f(r['p99_ms'][1], 2)} | "
            f"{'SLOWER' if r['slower_than_allowed'] else 'ok'} |"
        )
    lines += [
        "",
        f"Full results: {b['result']} (before) and {a['result']} (after).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--before", default=BEFORE_SENSORS, help="git revision to compare with")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args, bench_args = p.parse_known_args(argv)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%S")
    loads = [os.getloadavg()]
    work = Path(tempfile.mkdtemp(prefix="roomtemp-compare-"))
    tree = work / "before"
    _git("worktree", "add", "--detach", str(tree), args.before)
    try:
        before = run_bench(tree, work / "before-results", bench_args)
    finally:
        _git("worktree", "remove", "--force", str(tree))
    loads.append(os.getloadavg())
    after = run_bench(ROOT, work / "after-results", bench_args)
    loads.append(os.getloadavg())
    args.out.mkdir(parents=True, exist_ok=True)
    names = {}
    for side, doc in (("before", before), ("after", after)):
        name = f"compare-{stamp}-{side}.json"
        (args.out / name).write_text(json.dumps(doc, indent=1) + "\n")
        names[side] = name

    def revision(rev: str) -> dict[str, str]:
        return {
            "revision": _git("rev-parse", "--short", rev),
            "subject": _git("log", "-1", "--format=%s", rev)[:80],
        }

    doc = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "bench_args": bench_args,
        "loadavg": [[round(x, 2) for x in load] for load in loads],
        "before": {**revision(args.before), "result": names["before"]},
        "after": {**revision("HEAD"), "result": names["after"]},
        "comparison": compare(before, after),
    }
    (args.out / f"compare-{stamp}.json").write_text(json.dumps(doc, indent=1) + "\n")
    text = markdown(doc)
    (args.out / f"compare-{stamp}.md").write_text(text)
    print(text)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
