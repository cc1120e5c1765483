"""`roomtemp simulate`: post simulated readings to a running roomtemp, with a status line."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING

from roomtemp.lifecycle.cli import Progress
from roomtemp.simulator.client import Poster, Refused, Tally
from roomtemp.simulator.model import Reading, Simulation
from roomtemp.timefmt import parse_duration

if TYPE_CHECKING:
    from roomtemp.settings import Settings


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "simulate",
        help="post realistic readings of simulated rooms to a running roomtemp",
        description="Simulate --buildings x --rooms sensors sending every --interval: a "
        "weekday heating schedule, a daily swing, thermal lag, noise, dropouts, duplicate and "
        "late sends (which exercise idempotency). --backfill first sends the past period "
        "(as fast as the server takes it, or --speedup times real time), then readings "
        "follow real time. Runs until Ctrl-C or --duration.",
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="roomtemp base URL")
    parser.add_argument("--token", help="bearer token, if the API requires one")
    parser.add_argument("--buildings", type=int, default=3)
    parser.add_argument("--rooms", type=int, default=20, help="rooms per building")
    parser.add_argument("--interval", type=_duration, default=timedelta(seconds=60))
    parser.add_argument("--backfill", type=_duration, help="send this much history first")
    parser.add_argument(
        "--speedup", type=float, default=0.0, help="backfill pace, times real time (0: flat out)"
    )
    parser.add_argument("--batch", type=int, default=500, help="readings per POST (1: single)")
    parser.add_argument("--duration", type=_duration, help="stop after this long (real time)")
    parser.add_argument("--seed", type=int, default=1)
    parser.set_defaults(func=run)


def _wait_seconds(
    virtual: datetime,
    *,
    virtual_origin: datetime,
    speedup: float,
    started: float,
    deadline: float | None,
) -> float:
    """How long to sleep before the readings of `virtual` (never past the deadline)."""
    real_now = datetime.now(UTC)
    if virtual > real_now:  # live: wait for the next reading's time
        wait = (virtual - real_now).total_seconds()
    elif speedup > 0:  # paced backfill
        elapsed = (virtual - virtual_origin).total_seconds() / speedup
        wait = started + elapsed - time.monotonic()
    else:
        wait = 0.0
    if deadline is not None:
        wait = min(wait, deadline - time.monotonic())
    return wait


def _send(poster: Poster, pending: list[Reading], batch: int, *, all_: bool) -> None:
    """Post the pending readings in posts of `batch`; a last, smaller post only with `all_`.

    A flat-out backfill gathers the readings of several ticks into each post: one tick of a few
    rooms per POST made the backfill as slow as the server's time per request (on Citus every
    post is several multi-shard statements, issue 20), not its time per reading."""
    while len(pending) >= batch or (all_ and pending):
        poster.post(pending[:batch])
        del pending[:batch]


def _summary(t: Tally) -> str:
    return (
        f"sent {t.readings} readings in {t.posts} posts: {t.inserted} inserted, "
        f"{t.duplicates} duplicates, {t.updated} updated, {t.failed_posts} failed posts"
        + (f", {t.retries} retries" if t.retries else "")
        + (f" (last error: {t.last_error})" if t.last_error else "")
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        poster = Poster(args.url, args.token)
    except ValueError as exc:
        print(f"roomtemp simulate: {exc}", file=sys.stderr)
        return 2
    sim = Simulation(args.buildings, args.rooms, args.seed)
    stopping = False

    def stop(_sig: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    progress = Progress("simulate", every=2.0)
    started = time.monotonic()
    deadline = started + args.duration.total_seconds() if args.duration else None
    now = datetime.now(UTC)
    virtual = now - args.backfill if args.backfill else now
    virtual_origin = virtual
    step = args.interval
    batch = max(1, args.batch)

    def status() -> str:
        t = poster.tally
        return (
            f"at {virtual:%Y-%m-%d %H:%M:%S}Z, {t.posts} posts, {t.inserted} inserted, "
            f"{t.duplicates} duplicates, {t.updated} updated, {t.failed_posts} failed"
        )

    refused: Refused | None = None
    pending: list[Reading] = []

    try:
        while not stopping and (deadline is None or time.monotonic() < deadline):
            pending.extend(sim.tick(virtual))
            virtual += step
            wait = _wait_seconds(
                virtual,
                virtual_origin=virtual_origin,
                speedup=args.speedup,
                started=started,
                deadline=deadline,
            )
            # Before a wait (live or paced) everything is sent: readings go out on time.
            _send(poster, pending, batch, all_=wait > 0)
            progress.update(poster.tally.readings, extra=status())
            if wait > 0:
                time.sleep(wait)
        _send(poster, pending, batch, all_=True)  # what the last ticks of a backfill gathered
    except Refused as exc:
        refused = exc
    finally:
        poster.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    progress.update(poster.tally.readings, extra=status(), force=True)
    progress.finish()
    t = poster.tally
    print(_summary(t))
    if refused is not None:
        print(
            f"roomtemp simulate: stopped, the server refused the posts: {refused}", file=sys.stderr
        )
        return 1
    # Lost readings are a failure the caller (a script, CI) must see.
    return 1 if t.failed_posts else 0
