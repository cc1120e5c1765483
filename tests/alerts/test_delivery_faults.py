"""Issue 21's fault test: two real `roomtemp alerts` processes (evaluator + sender each) and a
real webhook receiver process, with synthetic captures driving 50 rooms across a threshold again
and again. The alerts processes are SIGKILLed and restarted (one at a time, then both); the
receiver is SIGKILLed mid-stream (while it answers, slowly) and restarted. Afterwards every
delivered-class transition in alert_transition (-> firing, firing -> resolved) has reached the
receiver at least once, by its idempotency key, as the right status; duplicates are allowed and
reported."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.alerts import service
from roomtemp.alerts.schemas import ReceiverIn, RuleIn
from roomtemp.db import room_sensors
from tests.alerts.receiver import free_port
from tests.threads import run_async

ROOT = Path(__file__).resolve().parents[2]
ROOMS = 50
SECRET = "fault-test-secret-0123"
HOT, COLD = 26.0 + 273.15, 21.0 + 273.15  # the rule fires above 24 °C and clears at 23 °C


class Process:
    """One child process; start() again after kill() is a restart (same command, same log)."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.argv, self.env, self.log = argv, env, log
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
            )

    def ready(self) -> bool:
        """Every start so far has come up (`roomtemp alerts` logs its first line)."""
        text = self.log.read_text() if self.log.exists() else ""
        return text.count("alerts: evaluating every") >= self.starts

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@dataclass
class Room:
    id: int
    sensor: int
    period: float  # seconds between flips of its temperature
    phase: float


def _world(db: psycopg.Connection[Any]) -> list[Room]:
    db.execute("INSERT INTO building (key, name, time_zone) VALUES ('hq', 'HQ', 'UTC')")
    rooms: list[Room] = []
    for i in range(ROOMS):
        row = db.execute(
            "INSERT INTO room (building_id, key, name) SELECT id, %s, '' FROM building "
            "RETURNING id",
            (f"r{i:02d}",),
        ).fetchone()
        assert row is not None
        sensor = db.execute(
            "INSERT INTO sensor (key, sensor_type_id, default_room_id) "
            "SELECT NULL, id, %s FROM sensor_type WHERE key = 'temperature' RETURNING id",
            (row[0],),
        ).fetchone()
        assert sensor is not None
        db.execute(
            "INSERT INTO sensor_assignment (valid_from, sensor_id, room_id) "
            "VALUES ('-infinity', %s, %s)",
            (sensor[0], row[0]),
        )
        db.execute(room_sensors.RECORD_ALL)
        rooms.append(Room(int(row[0]), int(sensor[0]), 3.0 + (i % 7) * 0.5, (i % 5) * 0.7))
    return rooms


async def _rules(database_url: str, receiver_url: str) -> None:
    engine = create_async_engine(database_url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            for name, fmt in (("am", "alertmanager"), ("plain", "json")):
                body = {"url": receiver_url + name, "format": fmt, "secret": SECRET}
                await service.put_receiver(conn, name, ReceiverIn.model_validate(body), now)
            rule = {"building": "hq", "kind": "above", "threshold": 24, "unit": "celsius",
                    "clear_threshold": 23, "window_seconds": 2,
                    "receivers": ["am", "plain"]}  # fmt: skip
            await service.put_rule(conn, "hot", RuleIn.model_validate(rule), now)
    finally:
        await engine.dispose()


def _capture(db: psycopg.Connection[Any], rooms: list[Room], elapsed: float) -> None:
    now = datetime.now(UTC)
    rows = [
        (r.id, r.sensor, now, HOT if int((elapsed + r.phase) / r.period) % 2 else COLD)
        for r in rooms
    ]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO capture (room_id, sensor_id, ts, value) VALUES (%s, %s, %s, %s)", rows
        )


def _received(log: Path) -> list[dict[str, str]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _delivered_metric(port: int) -> float:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    found = re.search(r'^roomtemp_alert_deliveries_total\{result="delivered"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _transitions(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT count(*) FROM alert_transition").fetchone()
    assert row is not None
    return int(row[0])


@dataclass
class Step:
    """Faults to inject, then what must have happened before the next step: the processes up
    again and the evaluator `more` transitions further (on a loaded machine a restart of
    `roomtemp alerts` takes seconds, so steps wait for progress, not for the clock)."""

    faults: list[str]
    more: int = 40
    pause: float = 0.0  # seconds to stay in the faulted state first (receiver down)
    after: list[str] = field(default_factory=list)  # done after the pause


PLAN = [
    Step([]),
    Step(["kill a", "start a"]),
    Step(["kill receiver"], pause=3.0, after=["start receiver"]),
    Step(["kill b", "start b"]),
    Step(["kill a", "kill b", "start a", "start b"]),
    Step(["kill receiver"], pause=2.0, after=["start receiver"]),
    Step([]),
]


@pytest.mark.timeout(420)
def test_every_transition_delivered_across_evaluator_and_receiver_kills(
    database_url: str, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    port = free_port()
    rooms = _world(db)
    run_async(_rules(database_url, f"http://127.0.0.1:{port}/"))
    received_log = tmp_path / "received.jsonl"
    receiver = Process(
        [sys.executable, "-m", "tests.alerts.receiver", str(port), SECRET, str(received_log),
         "0.05"],
        dict(os.environ),
        tmp_path / "receiver.log",
    )  # fmt: skip
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "ALERT_"))}
    base.update(
        DATABASE_URL=database_url,
        ALERT_EVAL_SECONDS="1",
        ALERT_DELIVERY_FIRST_RETRY_SECONDS="0.2",
        ALERT_DELIVERY_MAX_RETRY_SECONDS="1",
        ALERT_DELIVERY_TIMEOUT_SECONDS="2",
        ALERT_DELIVERY_POLL_SECONDS="0.2",
        ALERT_DELIVERY_BATCH="10",
        LOG_FORMAT="text",
    )
    metrics_ports = [free_port(), free_port()]
    a, b = (
        Process(
            [sys.executable, "-m", "roomtemp", "alerts"],
            {**base, "ALERTS_PORT": str(metrics_ports[i])},
            tmp_path / f"alerts{i}.log",
        )
        for i in range(2)
    )
    actors = {"a": a, "b": b, "receiver": receiver}

    def up() -> bool:
        return a.ready() and b.ready() and _listening(port)

    started = time.monotonic()
    try:
        receiver.start()
        a.start()
        b.start()
        for n, step in enumerate(PLAN):
            for fault in step.faults:
                action, who = fault.split()
                getattr(actors[who], action)()
            print(f"{time.monotonic() - started:6.1f} s: step {n} {step.faults}", flush=True)
            pending_after = time.monotonic() + step.pause
            target = None
            while True:
                _capture(db, rooms, time.monotonic() - started)
                if step.after and time.monotonic() >= pending_after:
                    for fault in step.after:
                        action, who = fault.split()
                        getattr(actors[who], action)()
                    step = Step([], step.more)
                if not step.after and up():
                    if target is None:
                        target = _transitions(db) + step.more
                    elif _transitions(db) >= target:
                        break
                time.sleep(0.5)
        drove = time.monotonic() - started
        # Captures stop: rooms fall out of their windows (unknown: no new transitions). Wait
        # until the outbox is drained.
        deadline = time.monotonic() + 120
        pending = -1
        while time.monotonic() < deadline:
            row = db.execute(
                "SELECT count(*) FILTER (WHERE delivered_at IS NULL AND given_up_at IS NULL), "
                "count(*) FILTER (WHERE given_up_at IS NOT NULL) FROM alert_outbox"
            ).fetchone()
            assert row is not None
            pending, given_up = row
            assert given_up == 0
            if pending == 0:
                break
            time.sleep(0.5)
        assert pending == 0, "the outbox did not drain"
        # The sender counts what it delivered on the process's /metrics (since its last start).
        delivered = sum(_delivered_metric(p) for p in metrics_ports)
        assert delivered > 0
    finally:
        for p in (a, b, receiver):
            p.stop()
    transitions = db.execute(
        "SELECT t.id || '-' || rr.receiver_id, t.to_state FROM alert_transition t "
        "JOIN alert al ON al.id = t.alert_id "
        "JOIN alert_rule_receiver rr ON rr.rule_id = al.rule_id "
        "WHERE t.to_state = 'firing' OR t.from_state = 'firing'"
    ).fetchall()
    expected = {key: state for key, state in transitions}
    got = _received(received_log)
    counts = Counter(r["key"] for r in got)
    lost = sorted(set(expected) - set(counts))
    duplicates = sum(n - 1 for n in counts.values())
    print(
        f"\ndrive {drove:.0f} s: {len(expected)} notifications expected "
        f"({len(expected) // 2} delivered-class transitions x 2 receivers), {len(got)} received,"
        f" {len(lost)} lost, {duplicates} duplicate(s); SIGKILLs: alerts {a.kills + b.kills}, "
        f"receiver {receiver.kills}"
    )
    assert lost == []
    assert set(counts) <= set(expected)  # nothing the database does not know
    assert all(r["status"] == expected[r["key"]] for r in got)
    assert len(expected) >= 200  # the drive made many transitions
    assert (a.kills, b.kills, receiver.kills) == (2, 2, 2)
