"""Load for the fault tests: threads posting unique captures, every outcome recorded."""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import psycopg

_seq = itertools.count()
_seq_lock = threading.Lock()


def unique_captures(n: int, *, building: str = "load", room: str = "r0") -> list[dict[str, Any]]:
    """`n` captures with distinct timestamps (microseconds apart) in the last few minutes."""
    base = datetime.now(UTC) - timedelta(minutes=5)
    with _seq_lock:
        seqs = [next(_seq) for _ in range(n)]
    return [
        {
            "building": building,
            "room": room,
            "ts": (base + timedelta(microseconds=s)).isoformat(),
            "value": 290 + (s % 1000) / 100,
            "unit": "kelvin",
        }
        for s in seqs
    ]


@dataclass
class Outcome:
    started: float
    finished: float
    status: int | None  # None: transport error
    error: str | None
    captures: list[dict[str, Any]]


@dataclass
class Load:
    """Threads that POST batches (or GET averages) until stopped; `outcomes` records every
    request."""

    url: str
    token: str
    threads: int = 4
    batch: int = 1
    timeout: float = 30.0
    reads: bool = False  # GET the rooms' averages instead of posting captures
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self, index: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        # A new connection per request: a request is never queued behind a closing keep-alive.
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(timeout=self.timeout, limits=limits, headers=headers) as client:
            while not self._stop.is_set():
                body = [] if self.reads else unique_captures(self.batch, room=f"r{index}")
                # Encoded before the clock starts: `started` is when the request leaves, not when
                # six threads sharing the GIL began to serialise 2,000 captures.
                content = json.dumps(body).encode()
                started = time.monotonic()
                try:
                    if self.reads:
                        r = client.get(f"{self.url}/v1/buildings/load/rooms/r{index}/average")
                    else:
                        r = client.post(
                            f"{self.url}/v1/captures",
                            content=content,
                            headers={"content-type": "application/json"},
                        )
                    status, error = r.status_code, None
                except httpx.TransportError as exc:
                    status, error = None, type(exc).__name__
                with self._lock:
                    self.outcomes.append(Outcome(started, time.monotonic(), status, error, body))
                if status is None:
                    time.sleep(0.05)

    def start(self) -> Load:
        for i in range(self.threads):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(timeout=60)

    def acknowledged(self) -> list[dict[str, Any]]:
        return [c for o in self.outcomes if o.status == 201 for c in o.captures]


def missing_captures(conninfo: str, captures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The captures (building, room, ts, value in kelvin) not found in the database."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT b.key, r.key, c.ts, c.value FROM capture c JOIN room r ON r.id = c.room_id "
            "JOIN building b ON b.id = r.building_id"
        ).fetchall()
    stored = {(b, r, ts, v) for b, r, ts, v in rows}
    return [
        c
        for c in captures
        if (c["building"], c["room"], datetime.fromisoformat(c["ts"]), c["value"]) not in stored
    ]
