"""Turn one benchmark run into bench/results/<stamp>.json + .md (and latest.*)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _find(doc: dict[str, Any], label: str) -> dict[str, Any] | None:
    return next((r for r in doc["results"] if r["label"] == label), None)


def _f(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def targets(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(target, measured, ratio or reference, verdict) rows."""
    rows: list[tuple[str, str, str, str]] = []

    def verdict(ok: bool | None) -> str:
        return "-" if ok is None else ("met" if ok else "missed")

    triv = _find(doc, "trivial c=64")
    single = _find(doc, "POST 1 capture c=64")
    if triv and single:
        ratio = single["req_per_s"] / triv["req_per_s"]
        rows.append(("POST 1 capture c=64 ≥ 60 % of trivial endpoint",
                     f"{single['req_per_s']:,.0f} req/s vs {triv['req_per_s']:,.0f}",
                     f"{ratio:.0%}", verdict(ratio >= 0.6)))  # fmt: skip
        rows.append(("POST 1 capture c=64 p99 < 25 ms", f"{_f(single['p99_ms'])} ms", "",
                     verdict(single["p99_ms"] < 25)))  # fmt: skip
    copy = (doc["facts"].get("copy_loads") or [None])[0]
    batch = _find(doc, "POST batch of 10000")
    if copy and batch and batch["items_per_s"]:
        ratio = batch["items_per_s"] / copy["rows_per_s"]
        rows.append(("POST batch 10,000 ≥ 50 % of binary COPY",
                     f"{batch['items_per_s']:,.0f} captures/s vs {copy['rows_per_s']:,.0f}",
                     f"{ratio:.0%}", verdict(ratio >= 0.5)))  # fmt: skip
    sizes = [s["label"] for s in doc["facts"].get("storage", [])]
    triv16 = _find(doc, "trivial c=16")
    for size in sizes:
        latest = _find(doc, f"[{size}] latest c=16")
        if latest and triv16:
            ratio = latest["req_per_s"] / triv16["req_per_s"]
            rows.append((f"[{size}] latest average c=16 ≥ 60 % of trivial",
                         f"{latest['req_per_s']:,.0f} req/s vs {triv16['req_per_s']:,.0f}",
                         f"{ratio:.0%}", verdict(ratio >= 0.6)))  # fmt: skip
        bare_kinds = (("", "a bare FastAPI endpoint"),
                      ("sync ", "a bare sync FastAPI endpoint (def, thread pool)"))  # fmt: skip
        for kind, what in bare_kinds:
            bare = _find(doc, f"[{size}] latest, bare {kind}FastAPI + psycopg c=16")
            if bare and triv16:
                ratio = bare["req_per_s"] / triv16["req_per_s"]
                rows.append((f"[{size}] reference: the same SQL in {what}, c=16",
                             f"{bare['req_per_s']:,.0f} req/s vs {triv16['req_per_s']:,.0f}",
                             f"{ratio:.0%}", "-"))  # fmt: skip
        for c in (1, 16):
            latest = _find(doc, f"[{size}] latest c={c}")
            if latest:
                rows.append((f"[{size}] latest average c={c} p99 < 10 ms",
                             f"{_f(latest['p99_ms'])} ms", "",
                             verdict(latest["p99_ms"] < 10)))  # fmt: skip
        s30 = _find(doc, f"[{size}] series30d c=1")
        if s30:
            rows.append((f"[{size}] 30-day series (2,880 points) < 50 ms",
                         f"p50 {_f(s30['p50_ms'])} ms, p99 {_f(s30['p99_ms'])} ms", "",
                         verdict(s30["p50_ms"] < 50)))  # fmt: skip
        ov = _find(doc, f"[{size}] overview c=1")
        if ov:
            rows.append((f"[{size}] building overview (500 rooms) < 100 ms",
                         f"p50 {_f(ov['p50_ms'])} ms, p99 {_f(ov['p99_ms'])} ms", "",
                         verdict(ov["p50_ms"] < 100)))  # fmt: skip
    if len(sizes) >= 2:
        a = _find(doc, f"[{sizes[0]}] latest c=16")
        b = _find(doc, f"[{sizes[-1]}] latest c=16")
        if a and b:
            ratio = b["req_per_s"] / a["req_per_s"]
            rows.append((f"latest average flat: {sizes[-1]} within ±25 % of {sizes[0]}",
                         f"{b['req_per_s']:,.0f} vs {a['req_per_s']:,.0f} req/s", f"{ratio:.0%}",
                         verdict(0.75 <= ratio <= 1.25)))  # fmt: skip
    for st in doc["facts"].get("storage", []):
        rows.append((f"[{st['label']}] storage ≤ 80 B per capture (heap + indexes)",
                     f"{st['bytes_per_capture']} B: heap {st.get('heap_bytes_per_capture')}, "
                     f"indexes {st.get('index_bytes_per_capture')} "
                     f"(+ rollups {st['rollup_bytes_per_capture']} B)",
                     "", verdict(st["bytes_per_capture"] <= 80)))  # fmt: skip
    for size in sizes:
        rep = doc["facts"].get(f"report_{size}")
        if rep:
            fast, slow = rep["rollups"]["median_s"], rep["raw"]["median_s"]
            rows.append((f"[{size}] period report of a 500-room building over the loaded span "
                         "well under 1 s",
                         f"median {fast * 1000:,.0f} ms from rollups, {slow * 1000:,.0f} ms raw",
                         f"{slow / fast:,.0f} times faster", verdict(fast < 0.5)))  # fmt: skip
    rss = [v for k, v in doc["facts"].items() if k.startswith("rss_")]
    if rss:
        rows.append(("worker RSS ≤ 150 MB after the run", f"{max(rss)} MB", "",
                     verdict(max(rss) <= 150)))  # fmt: skip
    return rows


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    pg = doc["postgres"]
    lines = [
        f"# roomtemp benchmark, {doc['started'][:16].replace('T', ' ')} UTC"
        + (" (quick smoke run: numbers mean nothing)" if doc["quick"] else ""),
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_mb']:,} MB RAM, kernel "
        f"{m['kernel']}, Python {m['python']}; load average at start {m['loadavg_at_start']}, "
        f"at end {m['loadavg_at_end']} (the machine is shared: expect ±20 % noise). "
        f"PostgreSQL {pg['version']} on the same machine ("
        + ", ".join(f"{k}={v}" for k, v in pg["settings"].items())
        + f"). {doc['params']['workers']} uvicorn worker(s); load generator in its own process "
        f"on loopback; {doc['params']['duration']} s per scenario.",
        "",
        "## Targets",
        "",
        "| target | measured | ratio | |",
        "|---|---|---|---|",
    ]
    lines += [f"| {t} | {v} | {r} | {ok} |" for t, v, r, ok in targets(doc)]
    lines += [
        "",
        "## All scenarios",
        "",
        "| scenario | req/s | captures/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in doc["results"]:
        lines.append(
            f"| {r['label']} | {_f(r['req_per_s'], 0)} | {_f(r.get('items_per_s'), 0)} | "
            f"{_f(r['p50_ms'], 2)} | {_f(r['p95_ms'], 2)} | {_f(r['p99_ms'], 2)} | {r['errors']} |"
        )
    f = doc["facts"]
    lines += ["", "## Loads and resources", ""]
    for c in f.get("copy_loads", []):
        lines.append(f"- binary COPY of {c['rows']:,} captures: {c['rows_per_s']:,} rows/s")
    for c in f.get("rollup_rebuilds", []):
        lines.append(f"- rollups rebuilt for {c['rows']:,} captures in {c['seconds']} s")
    for s in f.get("storage", []):
        lines.append(
            f"- [{s['label']}] {s['captures']:,} captures: {s['bytes_per_capture']} B/capture "
            f"(heap + indexes), rollups {s['rollup_bytes_per_capture']} B/capture"
        )
    for size in [s["label"] for s in f.get("storage", [])]:
        rep = f.get(f"report_{size}")
        if rep:
            lines.append(
                f"- [{size}] report of building {rep['building']} from {rep['from']} to "
                f"{rep['to']}: rollups {rep['rollups']['seconds']} s, raw captures "
                f"{rep['raw']['seconds']} s"
            )
    for k, v in f.items():
        if k.startswith("rss_"):
            lines.append(f"- {k}: {v} MB")
    lines += ["", "EXPLAIN (ANALYZE, BUFFERS) of each query: see the JSON file, key `explain`.", ""]
    return "\n".join(lines)


def write(doc: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stamp = doc["started"][:19].replace(":", "").replace("-", "")
    md = markdown(doc)
    for name in (stamp, "latest"):
        (out / f"{name}.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
        (out / f"{name}.md").write_text(md)
    explain = "\n\n".join(f"## {k}\n\n```\n{v}\n```" for k, v in doc["explain"].items())
    (out / f"{stamp}-explain.md").write_text(explain + "\n")
    print(md)
    return out / f"{stamp}.json"
