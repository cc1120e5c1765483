"""Alert evaluation time: R rules over N rooms with C captures, one round = every enabled rule at
one instant, in one transaction (roomtemp.alerts.evaluator.evaluate_once, what the worker runs).

The issue's target: 500 rules over 50,000 rooms at 20 M captures, < 1 s per round. The rooms
are spread over rules / --rules-per-building buildings; each rule watches every room of its
building (above, below with for_seconds, above that never holds, silent, above with a schedule
and hysteresis, in turn), so a round looks at rules x rooms-per-building (rule, room) pairs:
50,000 with the default of 1 rule per building (every room watched once), 250,000 with 5.
Rooms and captures are seeded in SQL (bench/alerts_seed.py: one capture per room per minute, a
slow wave around 22 °C), the newest minute at the first instant; rules go through the service,
as the API puts them. Rounds at consecutive minute instants: the first one opens the alerts
(many inserts), the next ones are the steady state.

After seeding: VACUUM ANALYZE and a CHECKPOINT, so the rounds do not share the disk with the
seed's write-back; after the rules: ANALYZE of the rule tables (autovacuum's job in a running
installation; alerts-20261207T172551 ran without it: the planner took 500 rules for one).
After the rounds: EXPLAIN (ANALYZE, BUFFERS) of each rule kind's statement at the next instant
(rolled back), so the figures say where a round's time goes.
Writes bench/results/alerts-<UTC stamp>.{json,md} with the machine and its load average.
Run: `python -m bench.alerts_bench` (full size) or `--rooms 5000 --minutes 40` (quick).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.alerts_seed import seed_rooms
from bench.run import ROOT, database, machine, write_results
from roomtemp.alerts import eval_queries, service
from roomtemp.alerts.evaluator import KINDS as RULE_KINDS
from roomtemp.alerts.evaluator import Round, evaluate_once
from roomtemp.alerts.schemas import RuleIn
from roomtemp.db import driver, migrate
from tests.postgres_provider import libpq_conninfo, sqlalchemy_url

KINDS = (
    {"kind": "above", "threshold": 21.5, "unit": "celsius", "severity": "warning"},
    {"kind": "below", "threshold": 20.6, "unit": "celsius", "for_seconds": 120},
    {"kind": "above", "threshold": 35, "unit": "celsius", "severity": "critical"},
    {"kind": "silent", "silent_seconds": 600, "for_seconds": 120},
    {"kind": "above", "threshold": 20.5, "clear_threshold": 20, "unit": "celsius",
     "schedule": {"days": [1, 2, 3, 4, 5], "from": "00:00", "to": "24:00"}},
)  # fmt: skip


async def put_rules(engine: AsyncEngine, buildings: int, rules: int, now: datetime) -> float:
    t0 = time.perf_counter()
    async with engine.begin() as conn:
        for n in range(rules):
            body = {**KINDS[n % len(KINDS)], "building": f"b{n % buildings + 1}"}
            await service.put_rule(conn, f"rule-{n}", RuleIn.model_validate(body), now)
    return time.perf_counter() - t0


async def rounds(engine: AsyncEngine, first: datetime, n: int) -> list[Round]:
    out = []
    for i in range(n):
        done = await evaluate_once(engine, first + timedelta(minutes=i), "UTC")
        assert done.done, "round skipped"
        print(f"round {i + 1}: {done.seconds:.3f} s, {done.transitions} transitions", flush=True)
        out.append(done)
    return out


def explain(conninfo: str, at: datetime) -> dict[str, list[str]]:
    """EXPLAIN (ANALYZE, BUFFERS) of each kind's round statement at `at`, rolled back."""
    plans: dict[str, list[str]] = {}
    with psycopg.connect(conninfo) as conn:
        for kind in RULE_KINDS:
            stmt = eval_queries.SILENT if kind == "silent" else eval_queries.MEAN
            sql = "EXPLAIN (ANALYZE, BUFFERS) " + driver.psycopg_sql(stmt)
            plans[kind] = [r[0] for r in conn.execute(sql, {"kind": kind, "at": at})]
            conn.rollback()
    return plans


def counts(conninfo: str) -> dict[str, Any]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT state, count(*) FROM alert GROUP BY state").fetchall()
        captures = conn.execute("SELECT count(*) FROM capture").fetchone()
    return {"alerts": {s: n for s, n in rows}, "captures": captures[0] if captures else 0}


def markdown(doc: dict[str, Any]) -> str:
    m, p = doc["machine"], doc["params"]
    lines = [
        f"# Alert evaluation, {doc['started'][:19]}Z",
        "",
        f"{m['cpu']}, {m['cores']} cores, {m['memory_mb']} MB; load average at start "
        f"{m['loadavg_at_start']}, at end {m['loadavg_at_end']}. Embedded PostgreSQL, durable.",
        "",
        f"{p['rules']} rules over {p['rooms']} rooms ({p['buildings']} buildings of "
        f"{p['rooms'] // p['buildings']}), {doc['data']['pairs']:,} rule x room pairs, "
        f"{doc['data']['captures']:,} captures "
        f"({p['minutes']} per room); loaded in {doc['data']['load_seconds']} s, "
        f"rules put in {doc['data']['rules_seconds']} s.",
        "",
        "| round | seconds | transitions |",
        "|---|---|---|",
    ]
    for i, r in enumerate(doc["rounds"], 1):
        lines.append(f"| {i} | {r['seconds']} | {r['transitions']} |")
    lines += ["", f"Alerts after the rounds: {doc['alerts']}. Target: < 1 s per round at 20 M."]
    for kind, plan in doc.get("plans", {}).items():
        lines += ["", f"EXPLAIN (ANALYZE, BUFFERS), {kind} rules, the next instant:", "", "```"]
        lines += [*plan, "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rooms", type=int, default=50_000)
    p.add_argument("--rules", type=int, default=500)
    p.add_argument("--minutes", type=int, default=400, help="captures per room (400: 20 M)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--rules-per-building", type=int, default=1)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    buildings = max(1, args.rules // args.rules_per_building)
    per_building = args.rooms // buildings
    started = datetime.now(UTC)
    mach = machine()
    end = started.replace(second=0, microsecond=0)
    with database() as url:
        migrate.upgrade(url)
        subprocess.run(
            [sys.executable, "-m", "roomtemp", "maintain"],
            env={**os.environ, "DATABASE_URL": url}, check=True, cwd=ROOT,
        )  # fmt: skip
        conninfo = libpq_conninfo(sqlalchemy_url(url))
        t0 = time.perf_counter()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            rows = seed_rooms(
                conn,
                buildings=buildings,
                rooms_per_building=per_building,
                minutes=args.minutes,
                start=end - timedelta(minutes=args.minutes - 1),
            )
            conn.execute("VACUUM ANALYZE")
            conn.execute("CHECKPOINT")
        load_s = time.perf_counter() - t0
        print(f"loaded {rows:,} captures in {load_s:.1f} s", flush=True)

        async def go() -> tuple[float, list[Round]]:
            engine = create_async_engine(sqlalchemy_url(url))
            try:
                put_s = await put_rules(engine, buildings, args.rules, end)
                # What autovacuum does within a minute of the rules' insert (autovacuum_naptime):
                # without statistics the planner takes 500 rules for one and loops.
                async with engine.begin() as conn:
                    await conn.exec_driver_sql("ANALYZE alert_rule, alert_rule_receiver")
                return put_s, await rounds(engine, end, args.rounds)
            finally:
                await engine.dispose()

        rules_s, done = asyncio.run(go())
        result = counts(conninfo)
        plans = explain(conninfo, end + timedelta(minutes=args.rounds))
    doc = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "machine": {**mach, "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
        "params": {
            "rooms": buildings * per_building,
            "buildings": buildings,
            "rules": args.rules,
            "minutes": args.minutes,
            "rounds": args.rounds,
        },
        "data": {
            "captures": result["captures"],
            "pairs": args.rules * per_building,
            "load_seconds": round(load_s, 1),
            "rules_seconds": round(rules_s, 2),
        },
        "rounds": [{"seconds": round(r.seconds, 3), "transitions": r.transitions} for r in done],
        "alerts": result["alerts"],
        "plans": plans,
    }
    text = markdown(doc)
    write_results(args.out, f"alerts-{started:%Y%m%dT%H%M%S}", doc, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
