"""Live updates: end-to-end latency from a POST to the SSE event, and the writers' notify cost.

    python -m bench.live_latency                     # 1,000 events, 5 rounds of the A/B
    python -m bench.live_latency --events 200 --ab-rounds 2 --out /tmp/b

Against a durable local PostgreSQL (as bench.run; BENCH_DATABASE_URL to use another server):
  latency  two `roomtemp serve` processes on one database (the real CLI, AUTH_REQUIRED=false):
           one POST /v1/captures at a time to replica A (a single capture, through the
           micro-batcher), the time until replica B's stream of the building delivers the
           room's `average` event (and the `capture` event: captures=true); p50/p90/p99/max
  ingest   capture.service.ingest in this process, with and without the notify (the announce
           call replaced by a no-op for "before"), interleaved rounds on the same database:
           single captures, one transaction each (the worst case: one notify per capture),
           and 10,000-capture batches (one notify per batch; its payload falls back to the
           per-room marker)
Writes bench/results/live-<stamp>.json and .md with the machine and its load average. Nothing
is asserted: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson
from sqlalchemy.ext.asyncio import create_async_engine

from bench.run import ROOT, database, free_port, machine, server, write_results
from roomtemp.capture import service as capture
from roomtemp.capture.schemas import CaptureIn
from roomtemp.db import migrate
from roomtemp.live import service as live
from roomtemp.settings import Settings
from tests.broker import Mosquitto, mosquitto_binary
from tests.postgres_provider import sqlalchemy_url

MQTT_TOPIC = "bench/live"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(_pct(ms, 0.5), 2),
        "p90_ms": round(_pct(ms, 0.9), 2),
        "p99_ms": round(_pct(ms, 0.99), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


async def _events(response: httpx.Response, queue: asyncio.Queue[tuple[str, float]]) -> None:
    name = ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line == "" and name:
            await queue.put((name, time.perf_counter()))
            name = ""


Send = Callable[[dict[str, Any]], Awaitable[None]]


async def latency(send: Send, url_b: str, events: int, building: str) -> dict[str, Any]:
    """Send one capture at a time; the time until B's stream has the room's events."""
    now = datetime.now(UTC)

    def body(value: float, ts: datetime) -> dict[str, Any]:
        return {
            "building": building,
            "room": "r1",
            "value": value,
            "unit": "celsius",
            "ts": ts.isoformat(),
        }

    async with httpx.AsyncClient(timeout=30) as http:
        await send(body(21.0, now))
        await asyncio.sleep(1)  # the building exists before the stream opens
        stream_url = url_b + f"/v1/buildings/{building}/live?captures=true"
        async with http.stream("GET", stream_url) as response:
            assert response.status_code == 200, await response.aread()
            queue: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
            reader = asyncio.create_task(_events(response, queue))
            name, _ = await asyncio.wait_for(queue.get(), 10)
            assert name == "reset", name
            to_average: list[float] = []
            to_capture: list[float] = []
            sent_ms: list[float] = []
            for n in range(events):
                ts = datetime.now(UTC) - timedelta(milliseconds=1)
                sent = time.perf_counter()
                await send(body(20.0 + n % 50 / 10, ts))
                sent_ms.append((time.perf_counter() - sent) * 1000)
                got: dict[str, float] = {}
                while "average" not in got:
                    name, at = await asyncio.wait_for(queue.get(), 10)
                    got.setdefault(name, at)
                to_average.append((got["average"] - sent) * 1000)
                if "capture" in got:
                    to_capture.append((got["capture"] - sent) * 1000)
            reader.cancel()
    return {
        "to_average_event": _summary(to_average),
        "to_capture_event": _summary(to_capture),
        "send_returned": _summary(sent_ms),
    }


async def http_latency(url_a: str, url_b: str, events: int) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:

        async def post(body: dict[str, Any]) -> None:
            r = await http.post(url_a + "/v1/captures", json=body)
            assert r.status_code == 201, r.text

        return await latency(post, url_b, events, "bench-http")


async def mqtt_latency(broker_port: int, url_b: str, events: int) -> dict[str, Any]:
    from tests.mqtt.publisher import Publisher

    publisher = Publisher(broker_port, client_id="bench-live-latency")
    try:

        async def publish(body: dict[str, Any]) -> None:
            publisher.publish(MQTT_TOPIC, body)  # QoS 1; returns at once, acked by the broker

        return await latency(publish, url_b, events, "bench-mqtt")
    finally:
        publisher.close()


def _capture(**fields: Any) -> CaptureIn:
    fields["ts"] = fields["ts"].isoformat()
    return CaptureIn.model_validate(fields)


async def _noop(*_: Any, **__: Any) -> None:
    return None


async def ingest_cost(url: str, rounds: int, singles: int, batch: int) -> dict[str, Any]:
    engine = create_async_engine(url, pool_size=2)
    policy = capture.IngestPolicy(
        auto_register=True, max_batch_size=batch, max_future_skew=timedelta(minutes=5)
    )
    real = live.announce
    results: dict[str, dict[str, list[float]]] = {
        "single": {"before": [], "after": []},
        "batch": {"before": [], "after": []},
    }
    base = datetime(2026, 1, 1, tzinfo=UTC)
    offset = 0

    # Time inside the notify itself (payload built, statement run): the direct cost, which the
    # throughput A/B on a shared machine can only bound.
    announce_ms: dict[str, list[float]] = {"single": [], "batch": []}
    kind = "single"

    async def timed_announce(*args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        await real(*args, **kwargs)
        if r:  # not in the warm-up round
            announce_ms[kind].append((time.perf_counter() - started) * 1000)

    async def timed(fn: Callable[[], Awaitable[None]]) -> float:
        started = time.perf_counter()
        await fn()
        return time.perf_counter() - started

    try:
        # Round 0 warms the caches and the rooms up and is not counted; then the order of
        # before and after alternates, so a trend over time favours neither.
        for r in range(rounds + 1):
            for label in ("before", "after") if r % 2 == 0 else ("after", "before"):
                # "before": the notify replaced by a no-op, everything else the same.
                capture.live.announce = _noop if label == "before" else timed_announce  # type: ignore[attr-defined]
                items = []
                for _ in range(singles):
                    offset += 1
                    items.append(
                        _capture(
                            building="bench-ingest",
                            room=f"s{offset % 20}",
                            value=20.0 + offset % 7,
                            unit="celsius",
                            ts=base + timedelta(seconds=offset),
                        )
                    )

                async def singles_run(items: list[CaptureIn] = items) -> None:
                    for item in items:
                        async with engine.begin() as conn:
                            await capture.ingest(
                                conn,
                                capture.ParsedBatch([item], single=True),
                                policy=policy,
                                now=base + timedelta(days=400),
                            )

                kind = "single"
                secs = await timed(singles_run)
                if r:
                    results["single"][label].append(singles / secs)
                big = []
                for i in range(batch):
                    offset += 1
                    big.append(
                        _capture(
                            building="bench-ingest",
                            room=f"b{i % 500}",
                            value=20.0 + offset % 7,
                            unit="celsius",
                            ts=base + timedelta(seconds=offset),
                        )
                    )

                async def batch_run(big: list[CaptureIn] = big) -> None:
                    async with engine.begin() as conn:
                        await capture.ingest(
                            conn,
                            capture.ParsedBatch(big),
                            policy=policy,
                            now=base + timedelta(days=400),
                        )

                kind = "batch"
                secs = await timed(batch_run)
                if r:
                    results["batch"][label].append(batch / secs)
    finally:
        capture.live.announce = real  # type: ignore[attr-defined]
        await engine.dispose()
    out: dict[str, Any] = {}
    for kind, by in results.items():
        before, after = statistics.median(by["before"]), statistics.median(by["after"])
        out[kind] = {
            "captures_per_s_before": [round(x, 1) for x in by["before"]],
            "captures_per_s_after": [round(x, 1) for x in by["after"]],
            "median_before": round(before, 1),
            "median_after": round(after, 1),
            "change_pct": round((after - before) / before * 100, 1),
            "notify_ms": _summary(announce_ms[kind]) if announce_ms[kind] else None,
            "transaction_ms_after_median": round(
                1000 / statistics.median(by["after"]) * (1 if kind == "single" else batch), 2
            ),
        }
    return out


def _markdown(result: dict[str, Any]) -> str:
    lat, cost, m = result["latency"], result["ingest"], result["machine"]
    lines = [
        f"# Live updates {result['stamp']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; load average at start "
        f"{m['loadavg_at_start']}, at end {result['loadavg_at_end']}. Two `roomtemp serve` "
        "replicas on one durable embedded PostgreSQL; POST to A (or publish to Mosquitto, "
        "stored by "
        "`roomtemp mqtt`), stream from B; one capture at a time.",
        "",
        "| from | to | n | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = [
        ("http", "send_returned", "POST sent", "201 received"),
        ("http", "to_capture_event", "POST sent", "`capture` event on B"),
        ("http", "to_average_event", "POST sent", "`average` event on B"),
        ("mqtt", "send_returned", "MQTT publish", "publish call returned"),
        ("mqtt", "to_capture_event", "MQTT publish", "`capture` event on B"),
        ("mqtt", "to_average_event", "MQTT publish", "`average` event on B"),
    ]
    for way, key, start, label in rows:
        if way not in lat:
            continue
        s = lat[way][key]
        cells = [s["n"], s["p50_ms"], s["p90_ms"], s["p99_ms"], s["max_ms"]]
        lines.append(f"| {start} | {label} | " + " | ".join(str(c) for c in cells) + " |")
    lines += [
        "",
        f"LIVE_COALESCE_MS = {result['coalesce_ms']} (a round waits that long for more notifies)"
        + (
            f"; MQTT_BATCH_MS = {lat['mqtt']['mqtt_batch_ms']} (the bridge's batch wait)."
            if "mqtt" in lat
            else "; MQTT: not measured (no mosquitto)."
        ),
        "",
        "| ingest (in process) | before: captures/s (median) | after | change "
        "| notify statement p50 / p99 ms | transaction ms (after, median) |",
        "|---|---|---|---|---|---|",
    ]
    for kind, label in (
        ("single", "single capture per transaction"),
        ("batch", f"{result['batch']}-capture batch"),
    ):
        c = cost[kind]
        n = c["notify_ms"] or {"p50_ms": "-", "p99_ms": "-"}
        lines.append(
            f"| {label} | {c['median_before']} | {c['median_after']} | {c['change_pct']} % "
            f"| {n['p50_ms']} / {n['p99_ms']} | {c['transaction_ms_after_median']} |"
        )
    lines += ["", "Every round's figures are in the .json."]
    return "\n".join(lines) + "\n"


def _mqtt(binary: str, url: str, stream_url: str, events: int) -> dict[str, Any]:
    """Mosquitto and `roomtemp mqtt` (the bridge, MQTT_BATCH_MS as configured) on the same
    database; publish to the broker, stream from replica B."""
    health = free_port()
    with Mosquitto(binary) as broker:
        env = {
            "DATABASE_URL": url,
            "MQTT_URL": broker.url,
            "MQTT_HEALTH_PORT": str(health),
            "MQTT_SUBSCRIPTIONS": orjson.dumps(
                [{"topic": MQTT_TOPIC, "format": "captures"}]
            ).decode(),
            "MQTT_CLIENT_ID": "bench-live",
            "LOG_LEVEL": "warning",
        }
        with server([sys.executable, "-m", "roomtemp", "mqtt"], env, health, "/readyz"):
            result = asyncio.run(mqtt_latency(broker.port, stream_url, events))
    result["mqtt_batch_ms"] = Settings(_env_file=None).mqtt_batch_ms
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--events", type=int, default=1000)
    p.add_argument("--ab-rounds", type=int, default=5)
    p.add_argument("--singles", type=int, default=500)
    p.add_argument("--batch", type=int, default=10_000)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    p.add_argument("--no-mqtt", action="store_true", help="skip the MQTT scenario")
    args = p.parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    info = machine()
    with database() as raw:
        url = sqlalchemy_url(raw).render_as_string(hide_password=False)
        migrate.upgrade(url)
        cost = asyncio.run(ingest_cost(url, args.ab_rounds, args.singles, args.batch))
        env: dict[str, str] = {
            "DATABASE_URL": url,
            "AUTH_REQUIRED": "false",
            "RATE_LIMIT_PER_SECOND": "0",
            "LOG_LEVEL": "warning",
            "HOST": "127.0.0.1",
        }
        port_a, port_b = free_port(), free_port()
        serve = [sys.executable, "-m", "roomtemp", "serve"]
        lat: dict[str, Any] = {}
        with (
            server([*serve, "--port", str(port_a)], env, port_a, "/readyz"),
            server([*serve, "--port", str(port_b)], env, port_b, "/readyz"),
        ):
            a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
            lat["http"] = asyncio.run(http_latency(a, b, args.events))
            binary = mosquitto_binary() if not args.no_mqtt else None
            if binary is not None:
                lat["mqtt"] = _mqtt(binary, url, b, args.events)
    result = {
        "stamp": stamp,
        "machine": info,
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "coalesce_ms": 75,
        "batch": args.batch,
        "latency": lat,
        "ingest": cost,
    }
    text = _markdown(result)
    write_results(args.out, f"live-{stamp}", result, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
