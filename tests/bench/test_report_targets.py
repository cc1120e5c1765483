"""bench.report's target table and --compare on small synthetic runs (no benchmark, no timing):
each target kind of issue 19 once met and once missed, verdicts against hand-computed ratios."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import report


def _r(label: str, req_per_s: float = 100.0, **extra: Any) -> dict[str, Any]:
    return {"label": label, "req_per_s": req_per_s, "items_per_s": None, "p50_ms": 1.0,
            "p95_ms": 2.0, "p99_ms": 3.0, "errors": 0, **extra}  # fmt: skip


def _storage(label: str, per_capture: float) -> dict[str, Any]:
    return {"label": label, "captures": 1000, "bytes_per_capture": per_capture,
            "heap_bytes_per_capture": 50.0, "index_bytes_per_capture": per_capture - 50,
            "rollup_bytes_per_capture": 5.0}  # fmt: skip


def doc(good: bool) -> dict[str, Any]:
    """A run whose issue-19 targets are all met (`good`) or all missed, by known margins."""
    svc = 90.0 if good else 80.0  # against 100 req/s bare: 90 % / 80 %
    results = [
        _r("trivial c=16", 1000.0),
        _r("trivial c=64", 1000.0, service_cpu_ms=0.1, db_cpu_ms=0.0),
        _r("POST 1 capture c=64", 500.0, service_cpu_ms=0.30 if good else 0.31, db_cpu_ms=0.2),
        {
            **_r("POST 1 capture c=1", 300.0, service_cpu_ms=1.5, db_cpu_ms=0.5 if good else 0.6),
            "p50_ms": 3.0 if good else 3.1,
        },
        {**_r("POST batch of 10000", 5.0), "items_per_s": 50_000.0 if good else 49_000.0},
    ]
    for size in ("1M", "20M"):
        for scenario in ("latest", "overview", "series24h", "series30d"):
            for c in (1, 16):
                results.append(_r(f"[{size}] {scenario}, bare FastAPI + psycopg c={c}", 100.0))
                # at 20M the latest average reaches 0.75 (met) or 0.74 (missed) of 1M
                flat = (0.75 if good else 0.74) if size == "20M" and scenario == "latest" else 1
                results.append(_r(f"[{size}] {scenario} c={c}", svc * flat))
    return {
        "started": "2026-12-08T01:00:00+00:00" if good else "2026-12-09T01:00:00+00:00",
        "quick": False,
        "results": results,
        "facts": {
            "copy_loads": [{"rows": 1000, "seconds": 0.01, "rows_per_s": 100_000}],
            "import_file": {
                "rows": 1000,
                "format": "csv",
                "seconds": 0.02,
                "rows_per_s": 50_000 if good else 49_999,
            },
            "storage": [_storage("1M", 95.0), _storage("20M", 95.0)],
            "storage_compacted": [_storage("20M", 81.0 if good else 81.1)],
        },
        "explain": {},
    }


def _rows(d: dict[str, Any]) -> dict[str, tuple[str, str, str, str, str]]:
    return {row[0]: row for row in report.targets(d)}


NEW_TARGETS = [
    *(
        f"[{size}] {name} c={c} ≥ 85 % of its bare same-SQL endpoint"
        for size in ("1M", "20M")
        for name in ("building overview", "24-hour series", "30-day series")
        for c in (1, 16)
    ),
    *(f"[1M] latest average c={c} ≥ 85 % of its bare same-SQL endpoint" for c in (1, 16)),
    "POST 1 capture c=64: ≤ 0.30 ms service CPU per request",
    "POST 1 capture c=1: p50 ≤ 3 ms",
    "POST 1 capture c=1: service + database CPU ≤ 2 ms per request",
    "POST batch of 10,000 ≥ 50 % of binary COPY",
    "`roomtemp import` ≥ 50 % of binary COPY",
    "latest average flat: 20M within 25 % of 1M, c=1",
    "latest average flat: 20M within 25 % of 1M, c=16",
    "[20M] storage ≤ 81 B per capture after compaction",
]


@pytest.mark.parametrize("target", NEW_TARGETS)
def test_each_new_target_is_met_and_missed(target: str) -> None:
    assert _rows(doc(good=True))[target][4] == "met"
    assert _rows(doc(good=False))[target][4] == "missed"


def test_read_rows_show_the_reference_and_the_ratio() -> None:
    row = _rows(doc(good=False))["[1M] building overview c=16 ≥ 85 % of its bare same-SQL endpoint"]
    assert row[1:] == ("80 req/s", "100 req/s (bare FastAPI + psycopg, same SQL)", "80%", "missed")
    # the 20M latest average is 0.74 x 80 = 59.2 % of its reference
    row = _rows(doc(good=False))["[20M] latest average c=1 ≥ 85 % of its bare same-SQL endpoint"]
    assert row[3:] == ("59%", "missed")


def test_cpu_rows_add_service_and_database() -> None:
    row = _rows(doc(good=False))["POST 1 capture c=1: service + database CPU ≤ 2 ms per request"]
    assert row[1] == "2.100 ms (service 1.500 + database 0.600)"


def test_unknown_database_cpu_is_no_verdict() -> None:
    d = doc(good=True)
    for r in d["results"]:
        r["db_cpu_ms"] = None
    row = _rows(d)["POST 1 capture c=1: service + database CPU ≤ 2 ms per request"]
    assert row[1] == "- ms (service 1.500 + database -)"
    assert row[4] == "-"


def test_storage_shows_both_figures_and_uncompacted_sizes_are_references() -> None:
    rows = _rows(doc(good=True))
    row = rows["[20M] storage ≤ 81 B per capture after compaction"]
    assert row[1].startswith("81.0 B")
    assert "as loaded 95.0 B" in row[2]
    assert rows["[1M] storage per capture as loaded (not compacted)"][4] == "-"


def test_trivial_ratios_are_reference_rows() -> None:
    rows = report.targets(doc(good=True))
    trivial = [r for r in rows if "(trivial c=" in r[2]]
    assert len(trivial) == 5  # POST c=64, and per size: the latest average and its bare one
    assert all(r[0].split("] ")[-1].startswith("reference") for r in trivial)
    assert all(r[4] == "-" for r in trivial)
    assert not any("60 %" in r[0] for r in rows)


def test_compare_puts_two_runs_side_by_side(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(doc(good=True)))
    b_doc = doc(good=False)
    del b_doc["facts"]["import_file"]  # a target only run A has
    b.write_text(json.dumps(b_doc))
    text = report.compare(json.loads(a.read_text()), json.loads(b.read_text()))
    lines = text.splitlines()
    assert lines[0] == "| target | run A: 2026-12-08 01:00 UTC | run B: 2026-12-09 01:00 UTC |"
    assert (
        "| POST batch of 10,000 ≥ 50 % of binary COPY | 50,000 captures/s (50%) **met** "
        "| 49,000 captures/s (49%) **missed** |"
    ) in lines
    imp = next(line for line in lines if line.startswith("| `roomtemp import`"))
    assert imp.endswith("**met** | - |")
    assert len(lines) == 2 + len(report.targets(doc(good=True)))


def test_compare_command_prints_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(doc(good=True)))
    b.write_text(json.dumps(doc(good=False)))
    assert report.main(["--compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert out == report.compare(doc(good=True), doc(good=False))


def test_markdown_has_the_latest_plans_and_cpu_columns() -> None:
    d = doc(good=True)
    d |= {
        "machine": {"cpu": "x", "cores": 2, "memory_mb": 1, "kernel": "k", "python": "3",
                    "loadavg_at_start": [0], "loadavg_at_end": [0]},
        "postgres": {"version": "17", "settings": {}},
        "params": {"workers": 1, "duration": 6},
        "explain": {"1M/latest": "PLAN ONE", "1M/overview": "X", "20M/latest": "PLAN TWENTY"},
    }  # fmt: skip
    md = report.markdown(d)
    plans = md.split("## The latest average's plan at each size")[1]
    assert plans.index("### 1M") < plans.index("PLAN ONE") < plans.index("### 20M")
    assert "PLAN TWENTY" in plans
    assert "\nX\n" not in plans
    assert "| service CPU ms/req | db CPU ms/req |" in md
