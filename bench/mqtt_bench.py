"""MQTT ingest throughput: captures/s through Mosquitto + `roomtemp mqtt` into a durable
PostgreSQL, next to the HTTP single-capture figure measured in the same run (one process each).

Two MQTT figures: `drain` (the bridge works off a backlog the broker holds for its session:
what the bridge can do) and `live` (publisher and bridge at once; the Python publisher on the
same cores is part of the load). Writes bench/results/mqtt-<UTC stamp>.{json,md}.
Run: `make bench-mqtt` (or `python -m bench.mqtt_bench --captures 50000`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg

from bench.run import ROOT, Bench, database, free_port, machine, server, write_results
from roomtemp.db import migrate
from tests.broker import Mosquitto, mosquitto_binary
from tests.mqtt.publisher import Publisher, capture

TOPIC = "bench/captures"


def _count(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM capture WHERE room_id IN"
                           " (SELECT r.id FROM room r JOIN building b ON b.id = r.building_id"
                           " WHERE b.key = 'load')").fetchone()  # fmt: skip
        return int(row[0]) if row else 0


def _wait_stored(conninfo: str, target: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _count(conninfo) >= target:
            return time.monotonic()
        time.sleep(0.05)
    raise RuntimeError(f"only {_count(conninfo)} of {target} captures stored")


def mqtt_figures(url: str, conninfo: str, n: int, batch: int) -> dict[str, Any]:
    binary = mosquitto_binary()
    if binary is None:
        raise SystemExit("mosquitto is not installed (apt-get install mosquitto)")
    health = free_port()
    out: dict[str, Any] = {}
    with Mosquitto(binary) as broker:
        env = {
            "DATABASE_URL": url, "MQTT_URL": broker.url, "MQTT_HEALTH_PORT": str(health),
            "MQTT_SUBSCRIPTIONS": orjson.dumps([{"topic": TOPIC, "format": "captures"}]).decode(),
            "MQTT_BATCH_MESSAGES": str(batch), "LOG_LEVEL": "warning", "MQTT_CLIENT_ID": "bench",
        }  # fmt: skip
        cmd = [sys.executable, "-m", "roomtemp", "mqtt"]
        start = datetime(2026, 1, 1, tzinfo=UTC)
        # drain: the session exists (first start), the backlog is published while the bridge is
        # stopped, then the bridge works it off.
        with server(cmd, env, health, "/readyz"):
            pass
        publisher = Publisher(broker.port, client_id="bench-drain")
        for i in range(n):
            publisher.publish(TOPIC, capture(i, start))
            while publisher.backlog() > 5000:
                time.sleep(0.005)
        publisher.wait_acked(120)
        publisher.close()
        before = _count(conninfo)
        with server(cmd, env, health, "/healthz"):
            t0 = time.monotonic()
            t1 = _wait_stored(conninfo, before + n, 600)
        out["drain"] = {"captures": n, "seconds": round(t1 - t0, 2), "per_s": round(n / (t1 - t0))}
        # live: publisher and bridge at once (new keys: one day later)
        later = start + timedelta(days=1)
        with server(cmd, env, health, "/readyz"):
            publisher = Publisher(broker.port, client_id="bench-live")
            before = _count(conninfo)
            t0 = time.monotonic()
            for i in range(n):
                publisher.publish(TOPIC, capture(i, later))
                while publisher.backlog() > 5000:
                    time.sleep(0.005)
            t1 = _wait_stored(conninfo, before + n, 600)
            publisher.close()
        out["live"] = {"captures": n, "seconds": round(t1 - t0, 2), "per_s": round(n / (t1 - t0))}
    return out


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    lines = [
        f"# MQTT ingest benchmark {doc['started']}",
        "",
        f"{m['cpu']}, {m['cores']} cores; load average at start {m['loadavg_at_start']}, "
        f"at end {m['loadavg_at_end']}. PostgreSQL durable (fsync, synchronous_commit on).",
        "",
        "| path (one process) | captures/s |",
        "|---|---|",
    ]
    for r in doc["http"]:
        lines.append(f"| HTTP {r['label']} | {r['items_per_s'] or r['req_per_s']} |")
    for name, r in doc["mqtt"].items():
        lines.append(f"| MQTT {name}, {r['captures']} captures, 1 per message | {r['per_s']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--captures", type=int, default=50_000)
    p.add_argument("--batch", type=int, default=500, help="MQTT_BATCH_MESSAGES")
    p.add_argument("--duration", type=float, default=6.0, help="seconds per HTTP scenario")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    started = datetime.now(UTC)
    mach = machine()
    with database() as url:
        migrate.upgrade(url)
        subprocess.run(
            [sys.executable, "-m", "roomtemp", "maintain"],
            env={**os.environ, "DATABASE_URL": url}, check=True, cwd=ROOT,
        )  # fmt: skip
        bench = Bench(
            argparse.Namespace(
                duration=args.duration,
                rooms=1000,
                buildings=2,
                quick=False,
                workers=1,
                hist_rooms=0,
            ),
            url,
        )
        bench.data.register_rooms()
        port = free_port()
        env = {"DATABASE_URL": url, "LOG_LEVEL": "warning", "AUTH_REQUIRED": "false"}
        serve = [sys.executable, "-m", "roomtemp", "serve", "--port", str(port)]
        # The HTTP figures of the same run, as bench.run measures them: single captures at
        # c=1/16/64 and batches of 1,000 and 10,000.
        bench.ingest(serve, env, port)
        mqtt = mqtt_figures(url, bench.conninfo, args.captures, args.batch)
    doc = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "machine": {**mach, "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
        "params": {"captures": args.captures, "batch": args.batch, "duration": args.duration},
        "http": bench.results,
        "mqtt": mqtt,
    }
    text = markdown(doc)
    write_results(args.out, f"mqtt-{started:%Y%m%dT%H%M%S}", doc, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
