"""HTTP load generator for the benchmark: keep-alive connections on loopback, one process.

A deliberately small HTTP/1.1 client on asyncio streams (uvloop when present): per request it
only formats bytes and parses a status line and Content-Length, so the generator costs far less
CPU than the server it measures. Prints one JSON object (throughput, latency percentiles, and
with --server-pid / --db-pid the CPU those process trees used per request in the measured part,
warm-up excluded).

    python -m bench.loadgen --port 8000 --scenario latest --concurrency 16 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.cpu import tree_ms

Request = tuple[bytes, int]  # raw request bytes, number of captures it carries


#: bucket scenarios: range, step, what is read (a room of b0/b1, a `hist` room, a building)
BUCKETS: dict[str, tuple[timedelta, str, str]] = {
    "buckets1y1d": (timedelta(days=365), "1d", "hist"),
    "buckets30d1h": (timedelta(days=30), "1h", "hist"),
    "buckets30d1h_dense": (timedelta(days=30), "1h", "room"),
    "buckets24h1h_building": (timedelta(hours=24), "1h", "building"),
}


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _raw_request(
    method: str, path: str, host: str, body: bytes | None = None, headers: str = ""
) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{headers}"
    if body is None:
        return (head + "\r\n").encode()
    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def make_scenario(args: argparse.Namespace, worker: int) -> Callable[[int], Request]:
    """A function from the worker's request number to the request to send."""
    host = f"{args.host}:{args.port}"
    auth = f"Authorization: Bearer {args.token}\r\n" if args.token else ""

    def _request(method: str, path: str, host: str, body: bytes | None = None) -> bytes:
        return _raw_request(method, path, host, body, auth)

    rng = random.Random(args.seed * 1000 + worker)  # noqa: S311 - load pattern, not security
    origin = datetime.fromtimestamp(args.ts_origin, tz=UTC)
    rooms, buildings = args.rooms, args.buildings
    per_building = max(1, rooms // buildings)

    if args.scenario == "trivial":
        req = _request("GET", "/ping", host)
        return lambda n: (req, 0)
    if args.scenario == "single":
        # Unique keys: worker w sends its n-th capture for room (n*C + w) % R at a distinct time.
        def single(n: int) -> Request:
            seq = n * args.concurrency + worker
            room, slot = seq % rooms, seq // rooms
            body = (
                f'{{"building":"ingest","room":"r{room}","value":{20 + (seq % 50) / 10},'
                f'"unit":"celsius","ts":"{_iso(origin + timedelta(milliseconds=slot))}"}}'
            )
            return _request("POST", "/v1/captures", host, body.encode()), 1

        return single
    if args.scenario == "batch":
        size = args.batch_size

        def batch(n: int) -> Request:
            seq = n * args.concurrency + worker
            base = origin + timedelta(seconds=seq * (size // rooms + 1))
            items = [
                f'{{"building":"ingestb","room":"r{i % rooms}","value":{20 + (i % 50) / 10},'
                f'"unit":"celsius","ts":"{_iso(base + timedelta(seconds=i // rooms))}"}}'
                for i in range(size)
            ]
            return _request(
                "POST", "/v1/captures", host, ("[" + ",".join(items) + "]").encode()
            ), size

        return batch
    now = datetime.fromtimestamp(args.now, tz=UTC)

    def room_path() -> str:
        r = rng.randrange(rooms)
        return f"{args.prefix}/v1/buildings/b{r // per_building}/rooms/r{r}"

    if args.scenario == "latest":
        return lambda n: (_request("GET", room_path() + "/average", host), 0)
    if args.scenario in ("series24h", "series30d"):
        span = timedelta(hours=24) if args.scenario == "series24h" else timedelta(days=30)
        q = f"/averages?from={_iso(now - span)}&to={_iso(now)}&step=15m&window=15m"
        return lambda n: (_request("GET", room_path() + q, host), 0)
    if args.scenario in BUCKETS:
        # Bucket mode (issue 16): every capture of each bucket counts. Year views read the
        # building with a year of history (`hist`, in Europe/Zurich: local days, DST).
        span, step, scope = BUCKETS[args.scenario]
        q = f"/averages?mode=buckets&from={_iso(now - span)}&to={_iso(now)}&step={step}"
        if scope == "building":
            return lambda n: (
                _request("GET", f"/v1/buildings/b{rng.randrange(buildings)}" + q, host),
                0,
            )
        if scope == "hist":
            hist = "/v1/buildings/hist/rooms/h"
            return lambda n: (
                _request("GET", f"{hist}{rng.randrange(args.hist_rooms)}{q}", host),
                0,
            )
        return lambda n: (_request("GET", room_path() + q, host), 0)
    if args.scenario == "overview":
        return lambda n: (
            _request("GET", f"/v1/buildings/b{rng.randrange(buildings)}/averages", host),
            0,
        )
    raise SystemExit(f"unknown scenario {args.scenario}")


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def worker(
    args: argparse.Namespace, w: int, deadline: float, lat: list[float], out: dict[str, int]
) -> None:
    scenario = make_scenario(args, w)
    reader, writer = await asyncio.open_connection(args.host, args.port)
    n = 0
    try:
        while time.perf_counter() < deadline and (args.requests == 0 or n < args.requests):
            req, items = scenario(n)
            n += 1
            t0 = time.perf_counter()
            writer.write(req)
            status = await _read_response(reader)
            lat.append(time.perf_counter() - t0)
            if status in (200, 201):
                out["ok"] += 1
                out["items"] += items
            else:
                out["errors"] += 1
                if out["errors"] <= 3:
                    print(f"status {status} for {req[:120]!r}", file=sys.stderr)
    finally:
        writer.close()


def _pct(sorted_lat: list[float], p: float) -> float | None:
    if not sorted_lat:
        return None
    return sorted_lat[min(len(sorted_lat) - 1, int(p / 100 * len(sorted_lat)))] * 1000


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.warmup > 0:  # fill the server's connection pool and statement caches first
        deadline = time.perf_counter() + args.warmup
        sink = {"ok": 0, "errors": 0, "items": 0}
        warm = argparse.Namespace(**{**vars(args), "seed": args.seed + 7919})
        if args.scenario in ("single", "batch"):  # other keys than the measured run's
            warm.ts_origin = args.ts_origin - 10**6
        await asyncio.gather(
            *(worker(warm, w, deadline, [], sink) for w in range(args.concurrency))
        )
    lat: list[float] = []
    out = {"ok": 0, "errors": 0, "items": 0}
    cpu0 = [tree_ms(pid) if pid else None for pid in (args.server_pid, args.db_pid)]
    start = time.perf_counter()
    deadline = start + args.duration
    await asyncio.gather(*(worker(args, w, deadline, lat, out) for w in range(args.concurrency)))
    elapsed = time.perf_counter() - start
    cpu1 = [tree_ms(pid) if pid else None for pid in (args.server_pid, args.db_pid)]
    per_request = [
        round((b - a) / out["ok"], 4) if a is not None and b is not None and out["ok"] else None
        for a, b in zip(cpu0, cpu1, strict=True)
    ]
    lat.sort()
    return {
        "scenario": args.scenario,
        "concurrency": args.concurrency,
        "batch_size": args.batch_size if args.scenario == "batch" else None,
        "seconds": round(elapsed, 3),
        "requests": out["ok"],
        "errors": out["errors"],
        "req_per_s": round(out["ok"] / elapsed, 1),
        "items_per_s": round(out["items"] / elapsed, 1) if out["items"] else None,
        "p50_ms": _pct(lat, 50),
        "p95_ms": _pct(lat, 95),
        "p99_ms": _pct(lat, 99),
        "service_cpu_ms": per_request[0],
        "db_cpu_ms": per_request[1],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--scenario", required=True)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=1.0, help="seconds not measured, first")
    p.add_argument("--requests", type=int, default=0, help="per connection; 0: until duration")
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--rooms", type=int, default=1000)
    p.add_argument("--buildings", type=int, default=2)
    p.add_argument("--hist-rooms", type=int, default=10, help="rooms of building `hist`")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ts-origin", type=float, default=0.0, help="Unix time of the first capture")
    p.add_argument("--now", type=float, default=0.0, help="Unix time the series end at")
    p.add_argument("--prefix", default="", help="put before every path (the sync reference)")
    p.add_argument("--token", default="", help="API token, sent as Authorization: Bearer")
    p.add_argument("--server-pid", type=int, default=0, help="CPU per request of this tree")
    p.add_argument("--db-pid", type=int, default=0, help="… and of this one (the postmaster)")
    args = p.parse_args()
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        print(json.dumps(runner.run(run(args))))


if __name__ == "__main__":
    main()
