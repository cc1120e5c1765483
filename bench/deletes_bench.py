"""Deleting one room-day under ingest load (issue 23): rows and time.

Rooms with S sensors each (S-1 registered plus the room's default sensor) hold one capture per
sensor per minute for D whole UTC days, stored through the ingest service (rollups kept as the
API keeps them). Then, while a load thread ingests batches into every room without pause
(new captures at the current edge, as gateways post), one room-day of one room is deleted at a
time with deletion.service.delete_captures (what DELETE /v1/buildings/{b}/rooms/{r}/captures
runs): the captures of all its sensors with from <= ts < from + 1 day, their 15-minute, 1-hour
and 1-day buckets recomputed and the audit row written, in one transaction. Each trial's time
is from BEGIN to COMMIT. The load thread's rows/s with and without the deletes are given too.

Writes bench/results/deletes-<UTC stamp>.{json,md} with the machine and its load average.
Run: `python -m bench.deletes_bench` (defaults below) or `--rooms 4 --days 2 --trials 3`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.run import ROOT, database, machine, write_results
from roomtemp.capture import service as ingest
from roomtemp.capture.schemas import CaptureIn, CaptureItem, SensorCaptureIn
from roomtemp.db import migrate
from roomtemp.deletion import service as deletion
from roomtemp.sensors import service as sensors
from tests.postgres_provider import sqlalchemy_url

POLICY = ingest.IngestPolicy(
    auto_register=True, max_batch_size=50_000, max_future_skew=timedelta(minutes=5)
)


def item(room: int, sensor: int, ts: datetime, value: float) -> CaptureItem:
    """Sensor 0 is the room's default sensor (building/room form); the others registered."""
    at = ts.isoformat()
    if sensor == 0:
        return CaptureIn(building="bench", room=f"r{room}", value=value, unit="celsius", ts=at)
    return SensorCaptureIn(sensor=f"r{room}-s{sensor}", value=value, unit="celsius", ts=at)


async def store(engine: AsyncEngine, items: list[CaptureItem], now: datetime) -> int:
    async with engine.begin() as conn:
        return (
            await ingest.ingest(conn, ingest.ParsedBatch(items), policy=POLICY, now=now)
        ).inserted


async def seed(engine: AsyncEngine, rooms: int, sensors_per_room: int, first: datetime, days: int,
               now: datetime) -> int:  # fmt: skip
    async with engine.begin() as conn:
        await sensors.register(
            conn,
            [
                sensors.NewSensor(f"r{r}-s{s}", "temperature", "bench", f"r{r}")
                for r in range(rooms)
                for s in range(1, sensors_per_room)
            ],
            auto_register=True,
            now=now,
        )
    stored = 0
    for r in range(rooms):
        for d in range(days):  # one day of one room per transaction
            day = first + timedelta(days=d)
            stored += await store(
                engine,
                [
                    item(r, s, day + timedelta(minutes=m), 19 + (m * 7 + s) % 60 / 10)
                    for s in range(sensors_per_room)
                    for m in range(1440)
                ],
                now,
            )
    return stored


class Load(threading.Thread):
    """Ingest without pause: every room and sensor one capture per batch, at a moving edge."""

    def __init__(self, url: str | URL, rooms: int, sensors_per_room: int, start: datetime,
                 now: datetime) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.url, self.rooms, self.sensors, self.edge, self.now = (
            url, rooms, sensors_per_room, start, now,
        )  # fmt: skip
        self.stop = threading.Event()
        self.rows = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._go())
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    async def _go(self) -> None:
        engine = create_async_engine(self.url)
        try:
            n = 0
            while not self.stop.is_set():
                ts = self.edge + timedelta(seconds=n)
                batch = [
                    item(r, s, ts, 21.0 + n % 10 / 10)
                    for r in range(self.rooms)
                    for s in range(self.sensors)
                ]
                self.rows += await store(engine, batch, self.now)
                n += 1
        finally:
            await engine.dispose()


def rate(load: Load, seconds: float) -> float:
    before, t0 = load.rows, time.perf_counter()
    time.sleep(seconds)
    return (load.rows - before) / (time.perf_counter() - t0)


async def delete_days(url: str | URL, trials: int, rooms: int, first: datetime, days: int,
                      now: datetime) -> list[dict[str, Any]]:  # fmt: skip
    engine = create_async_engine(url)
    done = []
    try:
        for t in range(trials):
            room, day = t % rooms, first + timedelta(days=t // rooms % days)
            t0 = time.perf_counter()
            async with engine.begin() as conn:
                entry = await deletion.delete_captures(
                    conn, "bench", f"r{room}", None, day, day + timedelta(days=1),
                    token=None, now=now,
                )  # fmt: skip
            seconds = time.perf_counter() - t0
            done.append({"room": f"r{room}", "day": day.date().isoformat(),
                         "rows": entry.captures_deleted, "seconds": round(seconds, 3)})  # fmt: skip
            print(f"deleted {entry.captures_deleted} rows of r{room} {day:%Y-%m-%d} in "
                  f"{seconds:.3f} s", flush=True)  # fmt: skip
    finally:
        await engine.dispose()
    return done


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rooms", type=int, default=8)
    p.add_argument("--sensors", type=int, default=5, help="per room (1 default + registered)")
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    started = datetime.now(UTC)
    mach = machine()
    today = started.replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=args.days)
    with database() as url:
        migrate.upgrade(url)
        subprocess.run(
            [sys.executable, "-m", "roomtemp", "maintain"],
            env={**os.environ, "DATABASE_URL": url}, check=True, cwd=ROOT,
        )  # fmt: skip
        sa_url = sqlalchemy_url(url)

        async def load_data() -> int:
            engine = create_async_engine(sa_url)
            try:
                return await seed(engine, args.rooms, args.sensors, first, args.days, started)
            finally:
                await engine.dispose()

        t0 = time.perf_counter()
        seeded = asyncio.run(load_data())
        print(f"seeded {seeded:,} captures in {time.perf_counter() - t0:.1f} s", flush=True)
        load = Load(sa_url, args.rooms, args.sensors, today, started + timedelta(days=1))
        load.start()
        idle_rate = rate(load, 5)
        t0 = time.perf_counter()
        before = load.rows
        trials = asyncio.run(
            delete_days(sa_url, args.trials, args.rooms, first, args.days, started)
        )
        busy_rate = (load.rows - before) / (time.perf_counter() - t0)
        load.stop.set()
        load.join()
        if load.error is not None:
            raise load.error
    seconds = [t["seconds"] for t in trials]
    span = {"median": statistics.median(seconds), "max": max(seconds), "min": min(seconds)}
    doc = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "machine": {**mach, "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
        "params": vars(args) | {"out": str(args.out)},
        "seeded_captures": seeded,
        "trials": trials,
        "seconds": span,
        "load_rows_per_second": {"without_deletes": round(idle_rate), "during": round(busy_rate)},
    }
    rows = trials[0]["rows"]
    text = (
        f"# Delete of one room-day under ingest load ({started:%Y-%m-%d %H:%M} UTC)\n\n"
        f"{args.rooms} rooms x {args.sensors} sensors x 1 capture/min x {args.days} days "
        f"({seeded:,} captures); a thread ingests into every room without pause.\n\n"
        f"| trials | rows per room-day | median s | min s | max s | load rows/s without / "
        f"during |\n|---:|---:|---:|---:|---:|---:|\n"
        f"| {len(trials)} | {rows:,} | {span['median']:.3f} | "
        f"{span['min']:.3f} | {span['max']:.3f} | "
        f"{round(idle_rate):,} / {round(busy_rate):,} |\n\n"
        f"Machine: {mach['cores']} cores, load average at end "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}.\n"
    )
    write_results(args.out, f"deletes-{started:%Y%m%dT%H%M%S}", doc, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
