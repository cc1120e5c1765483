"""Turn one benchmark run into bench/results/<stamp>.json + .md (and latest.*)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _find(doc: dict[str, Any], label: str) -> dict[str, Any] | None:
    return next((r for r in doc["results"] if r["label"] == label), None)


def _f(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


Row = tuple[str, str, str, str, str]  # target, measured, reference, ratio, verdict
READS = (("latest", "latest average"), ("overview", "building overview"),
         ("series24h", "24-hour series"), ("series30d", "30-day series"))  # fmt: skip
READ_SHARE = 0.85  # issue 19: reads reach 85 % of the bare same-SQL endpoint
FLAT = 0.75  # issue 19: the latest average at the largest size within 25 % of the smallest


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "missed")


def _sizes(doc: dict[str, Any]) -> list[str]:
    return [s["label"] for s in doc["facts"].get("storage", [])]


def _read_rows(doc: dict[str, Any], size: str) -> list[Row]:
    rows: list[Row] = []
    for scenario, name in READS:
        for c in (1, 16):
            svc = _find(doc, f"[{size}] {scenario} c={c}")
            bare = _find(doc, f"[{size}] {scenario}, bare FastAPI + psycopg c={c}")
            if svc and bare:
                ratio = svc["req_per_s"] / bare["req_per_s"]
                rows.append((f"[{size}] {name} c={c} ≥ 85 % of its bare same-SQL endpoint",
                             f"{svc['req_per_s']:,.0f} req/s",
                             f"{bare['req_per_s']:,.0f} req/s (bare FastAPI + psycopg, same SQL)",
                             f"{ratio:.0%}", _verdict(ratio >= READ_SHARE)))  # fmt: skip
    return rows


def _ingest_rows(doc: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    triv = _find(doc, "trivial c=64")
    single = _find(doc, "POST 1 capture c=64")
    if single:
        cpu = single.get("service_cpu_ms")
        ref = f"trivial endpoint c=64: {_f(triv.get('service_cpu_ms'), 3)} ms" if triv else ""
        rows.append(("POST 1 capture c=64: ≤ 0.30 ms service CPU per request",
                     f"{_f(cpu, 3)} ms", ref, "",
                     _verdict(None if cpu is None else cpu <= 0.30)))  # fmt: skip
        rows.append(("POST 1 capture c=64 p99 < 25 ms", f"{_f(single['p99_ms'])} ms", "", "",
                     _verdict(single["p99_ms"] < 25)))  # fmt: skip
        if triv:
            ratio = single["req_per_s"] / triv["req_per_s"]
            rows.append(("reference: POST 1 capture c=64 against the trivial endpoint",
                         f"{single['req_per_s']:,.0f} req/s",
                         f"{triv['req_per_s']:,.0f} req/s (trivial c=64)",
                         f"{ratio:.0%}", "-"))  # fmt: skip
    one = _find(doc, "POST 1 capture c=1")
    if one:
        peer = "issue 19's simplest peer (a plain INSERT): "
        rows.append(("POST 1 capture c=1: p50 ≤ 3 ms", f"{_f(one['p50_ms'], 2)} ms",
                     peer + "2.2 ms", "", _verdict(one["p50_ms"] <= 3)))  # fmt: skip
        svc, db = one.get("service_cpu_ms"), one.get("db_cpu_ms")
        both = None if svc is None or db is None else svc + db
        rows.append(("POST 1 capture c=1: service + database CPU ≤ 2 ms per request",
                     f"{_f(both, 3)} ms (service {_f(svc, 3)} + database {_f(db, 3)})",
                     peer + "1.5 + 0.3 ms", "",
                     _verdict(None if both is None else both <= 2)))  # fmt: skip
    copy = (doc["facts"].get("copy_loads") or [None])[0]
    batch = _find(doc, "POST batch of 10000")
    if copy and batch and batch["items_per_s"]:
        ratio = batch["items_per_s"] / copy["rows_per_s"]
        rows.append(("POST batch of 10,000 ≥ 50 % of binary COPY",
                     f"{batch['items_per_s']:,.0f} captures/s",
                     f"{copy['rows_per_s']:,.0f} rows/s (binary COPY)",
                     f"{ratio:.0%}", _verdict(ratio >= 0.5)))  # fmt: skip
    imp = doc["facts"].get("import_file")
    if copy and imp:
        ratio = imp["rows_per_s"] / copy["rows_per_s"]
        rows.append(("`roomtemp import` ≥ 50 % of binary COPY",
                     f"{imp['rows_per_s']:,.0f} rows/s ({imp['rows']:,} rows, "
                     f"{imp['format'].upper()}, {imp['seconds']} s end to end)",
                     f"{copy['rows_per_s']:,.0f} rows/s (binary COPY)",
                     f"{ratio:.0%}", _verdict(ratio >= 0.5)))  # fmt: skip
    return rows


def _size_rows(doc: dict[str, Any], size: str) -> list[Row]:
    """The reads that are targets on their own, and the reference rows of one size."""
    rows: list[Row] = []
    triv16 = _find(doc, "trivial c=16")
    latest = _find(doc, f"[{size}] latest c=16")
    if latest and triv16:
        ratio = latest["req_per_s"] / triv16["req_per_s"]
        rows.append((f"[{size}] reference: latest average c=16 against the trivial endpoint",
                     f"{latest['req_per_s']:,.0f} req/s",
                     f"{triv16['req_per_s']:,.0f} req/s (trivial c=16)",
                     f"{ratio:.0%}", "-"))  # fmt: skip
    bare_kinds = (("", "a bare FastAPI endpoint"),
                  ("sync ", "a bare sync FastAPI endpoint (def, thread pool)"))  # fmt: skip
    for kind, what in bare_kinds:
        bare = _find(doc, f"[{size}] latest, bare {kind}FastAPI + psycopg c=16")
        if bare and triv16:
            ratio = bare["req_per_s"] / triv16["req_per_s"]
            rows.append((f"[{size}] reference: the same SQL in {what}, c=16",
                         f"{bare['req_per_s']:,.0f} req/s",
                         f"{triv16['req_per_s']:,.0f} req/s (trivial c=16)",
                         f"{ratio:.0%}", "-"))  # fmt: skip
    for c in (1, 16):
        latest = _find(doc, f"[{size}] latest c={c}")
        if latest:
            rows.append((f"[{size}] latest average c={c} p99 < 10 ms",
                         f"{_f(latest['p99_ms'])} ms", "", "",
                         _verdict(latest["p99_ms"] < 10)))  # fmt: skip
    s30 = _find(doc, f"[{size}] series30d c=1")
    if s30:
        rows.append((f"[{size}] 30-day series (2,880 points) < 50 ms",
                     f"p50 {_f(s30['p50_ms'])} ms, p99 {_f(s30['p99_ms'])} ms", "", "",
                     _verdict(s30["p50_ms"] < 50)))  # fmt: skip
    ov = _find(doc, f"[{size}] overview c=1")
    if ov:
        rows.append((f"[{size}] building overview (500 rooms) < 100 ms",
                     f"p50 {_f(ov['p50_ms'])} ms, p99 {_f(ov['p99_ms'])} ms", "", "",
                     _verdict(ov["p50_ms"] < 100)))  # fmt: skip
    rep = doc["facts"].get(f"report_{size}")
    if rep:
        fast, slow = rep["rollups"]["median_s"], rep["raw"]["median_s"]
        rows.append((f"[{size}] period report of a 500-room building over the loaded span "
                     "well under 1 s",
                     f"median {fast * 1000:,.0f} ms from rollups",
                     f"{slow * 1000:,.0f} ms from raw captures",
                     f"{slow / fast:,.0f} times faster", _verdict(fast < 0.5)))  # fmt: skip
    return rows


def _flat_rows(doc: dict[str, Any], sizes: list[str]) -> list[Row]:
    rows: list[Row] = []
    if len(sizes) < 2:
        return rows
    small, large = sizes[0], sizes[-1]
    for c in (1, 16):
        a = _find(doc, f"[{small}] latest c={c}")
        b = _find(doc, f"[{large}] latest c={c}")
        if a and b:
            ratio = b["req_per_s"] / a["req_per_s"]
            rows.append((f"latest average flat: {large} within 25 % of {small}, c={c}",
                         f"{b['req_per_s']:,.0f} req/s at {large}",
                         f"{a['req_per_s']:,.0f} req/s at {small}", f"{ratio:.0%}",
                         _verdict(ratio >= FLAT)))  # fmt: skip
    return rows


def _storage(st: dict[str, Any]) -> str:
    return (f"{st['bytes_per_capture']} B (heap {st.get('heap_bytes_per_capture')}, "
            f"indexes {st.get('index_bytes_per_capture')})")  # fmt: skip


def _storage_rows(doc: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    compacted = {s["label"]: s for s in doc["facts"].get("storage_compacted", [])}
    for st in doc["facts"].get("storage", []):
        after = compacted.get(st["label"])
        rollups = f"rollups {st['rollup_bytes_per_capture']} B beside"
        if after is None:
            rows.append((f"[{st['label']}] storage per capture as loaded (not compacted)",
                         _storage(st), rollups, "", "-"))  # fmt: skip
            continue
        rows.append((f"[{st['label']}] storage ≤ 81 B per capture after compaction",
                     _storage(after), f"as loaded {_storage(st)}; {rollups}", "",
                     _verdict(after["bytes_per_capture"] <= 81)))  # fmt: skip
    return rows


def targets(doc: dict[str, Any]) -> list[Row]:
    """(target, measured, reference, ratio, verdict) rows: issue 19's targets, the targets met
    before it that must stay met, and reference rows (verdict "-")."""
    sizes = _sizes(doc)
    rows: list[Row] = []
    for size in sizes:
        rows += _read_rows(doc, size)
    rows += _ingest_rows(doc)
    rows += _flat_rows(doc, sizes)
    rows += _storage_rows(doc)
    for size in sizes:
        rows += _size_rows(doc, size)
    rss = [v for k, v in doc["facts"].items() if k.startswith("rss_")]
    if rss:
        rows.append(("worker RSS ≤ 150 MB after the run", f"{max(rss)} MB", "", "",
                     _verdict(max(rss) <= 150)))  # fmt: skip
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
        f"on loopback; {doc['params']['duration']} s per scenario. The service as shipped: "
        "auth on (a read and an ingest token), metrics, request ids, JSON access log at the "
        "default level.",
        "",
        "## Targets",
        "",
        "| target | measured | reference | ratio | |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(row)} |" for row in targets(doc)]
    lines += [
        "",
        "## All scenarios",
        "",
        "CPU per request: of the server's process tree and of all PostgreSQL server processes "
        "(the postmaster's), over the measured part of the run; `-`: not measured (a database "
        "not started by the benchmark, or not a server run).",
        "",
        "| scenario | req/s | captures/s | p50 ms | p95 ms | p99 ms | errors | service CPU "
        "ms/req | db CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in doc["results"]:
        lines.append(
            f"| {r['label']} | {_f(r['req_per_s'], 0)} | {_f(r.get('items_per_s'), 0)} | "
            f"{_f(r['p50_ms'], 2)} | {_f(r['p95_ms'], 2)} | {_f(r['p99_ms'], 2)} | {r['errors']} "
            f"| {_f(r.get('service_cpu_ms'), 3)} | {_f(r.get('db_cpu_ms'), 3)} |"
        )
    f = doc["facts"]
    lines += ["", "## Loads and resources", ""]
    for c in f.get("copy_loads", []):
        lines.append(f"- binary COPY of {c['rows']:,} captures: {c['rows_per_s']:,} rows/s")
    for c in f.get("rollup_rebuilds", []):
        lines.append(f"- rollups rebuilt for {c['rows']:,} captures in {c['seconds']} s")
    if imp := f.get("import_file"):
        lines.append(
            f"- `roomtemp import` of {imp['rows']:,} captures ({imp['format'].upper()}, end to "
            f"end): {imp['seconds']} s, {imp['rows_per_s']:,} rows/s"
        )
    for key, how in (("storage", "as loaded"), ("storage_compacted", "after compaction")):
        for s in f.get(key, []):
            lines.append(
                f"- [{s['label']}] {s['captures']:,} captures {how}: {s['bytes_per_capture']} "
                f"B/capture (heap + indexes), rollups {s['rollup_bytes_per_capture']} B/capture"
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
    if "server_log_bytes" in f:
        lines.append(f"- servers' stdout (access log): {f['server_log_bytes']:,} bytes")
    lines += _latest_plans(doc)
    lines += [
        "",
        "EXPLAIN (ANALYZE, BUFFERS) of each query: see the -explain.md file and the JSON file, "
        "key `explain`.",
        "",
    ]
    return "\n".join(lines)


def _latest_plans(doc: dict[str, Any]) -> list[str]:
    """The latest average's plan at each size, one after the other: why it differs by size."""
    plans = [(k.split("/")[0], v) for k, v in doc["explain"].items() if k.endswith("/latest")]
    if not plans:
        return []
    lines = ["", "## The latest average's plan at each size", "",
             "EXPLAIN (ANALYZE, BUFFERS) of the window statement the service runs (room 1, the "
             "window ending at the newest loaded minute), once, right after loading."]  # fmt: skip
    for size, plan in plans:
        lines += ["", f"### {size}", "", "```", plan, "```"]
    return lines


def compare(a: dict[str, Any], b: dict[str, Any]) -> str:
    """The targets of two runs side by side (markdown): target | run A | run B; a target only
    one run has is `-` in the other."""
    rows_a = {row[0]: row for row in targets(a)}
    rows_b = {row[0]: row for row in targets(b)}
    order = list(rows_a) + [t for t in rows_b if t not in rows_a]

    def cell(row: tuple[str, ...] | None) -> str:
        if row is None:
            return "-"
        _, measured, _, ratio, verdict = row
        text = measured + (f" ({ratio})" if ratio else "")
        return text + ("" if verdict == "-" else f" **{verdict}**")

    def head(doc: dict[str, Any]) -> str:
        return f"{doc['started'][:16].replace('T', ' ')} UTC" + (" (quick)" if doc["quick"] else "")

    lines = [f"| target | run A: {head(a)} | run B: {head(b)} |", "|---|---|---|"]
    lines += [f"| {t} | {cell(rows_a.get(t))} | {cell(rows_b.get(t))} |" for t in order]
    return "\n".join(lines) + "\n"


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="The benchmark's reports.")
    p.add_argument(
        "--compare", nargs=2, type=Path, metavar=("A.json", "B.json"), required=True,
        help="print the targets of two runs side by side (markdown)",
    )  # fmt: skip
    args = p.parse_args(argv)
    a, b = (json.loads(path.read_text()) for path in args.compare)
    print(compare(a, b), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
