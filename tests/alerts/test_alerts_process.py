"""The `roomtemp alerts` process as it runs in a pod: /healthz, /readyz (database and schema) and
/metrics on ALERTS_PORT; a rule that fires shows in roomtemp_alerts{building,severity,state}, its
round in the evaluation histogram and the transitions counter; the outbox gauge counts the
notification; SIGTERM stops it cleanly. Also the readiness answer without a database."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.alerts.metrics import AlertMetrics
from roomtemp.alerts.observe import run_observer
from roomtemp.settings import Settings
from tests.alerts.test_alert_api import HOT, setup_rules
from tests.conftest import ClientFactory
from tests.factories import capture
from tests.system.ops.server import free_port, server_env


def metric(text: str, name: str, labels: str = "") -> float | None:
    pattern = rf"^{re.escape(name)}{re.escape('{' + labels + '}') if labels else ''} (\S+)$"
    found = re.search(pattern, text, re.M)
    return None if found is None else float(found[1])


def wait(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def process(database_url: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = server_env(
        database_url,
        ALERT_EVAL_SECONDS="1",
        ALERTS_PORT=str(port),
        ALERTS_METRICS_SECONDS="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "roomtemp", "alerts"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


def get(base: str, path: str) -> httpx.Response | None:
    try:
        return httpx.get(base + path, timeout=2)
    except httpx.TransportError:
        return None


def test_probes_and_metrics_of_a_firing_rule(
    client_factory: ClientFactory,
    database_url: str,
    db: psycopg.Connection[Any],
    process: tuple[subprocess.Popen[bytes], str],
) -> None:
    proc, base = process
    wait(lambda: (r := get(base, "/readyz")) is not None and r.status_code == 200, "ready")
    assert get(base, "/readyz").json() == {"database": True, "schema": True}  # type: ignore[union-attr]
    assert get(base, "/healthz").status_code == 200  # type: ignore[union-attr]
    assert get(base, "/nowhere").status_code == 404  # type: ignore[union-attr]

    now = datetime.now(UTC)
    client = client_factory(now=now)
    body = capture(30, ts=(now - timedelta(seconds=30)).isoformat())
    assert client.post("/v1/captures", json=body).status_code == 201
    setup_rules(database_url, {"hot": HOT})

    firing = 'building="hq",severity="critical",state="firing"'

    def fired() -> bool:
        r = get(base, "/metrics")
        return r is not None and metric(r.text, "roomtemp_alerts", firing) == 1

    wait(fired, "roomtemp_alerts firing = 1")
    text = get(base, "/metrics").text  # type: ignore[union-attr]
    pending = 'building="hq",severity="critical",state="pending"'
    assert metric(text, "roomtemp_alerts", pending) == 0
    assert metric(text, "roomtemp_alerts", 'building="hq",severity="info",state="firing"') == 0
    assert (metric(text, "roomtemp_alert_transitions_total", 'to_state="firing"') or 0) >= 1
    assert (metric(text, "roomtemp_alert_evaluation_seconds_count") or 0) >= 1
    assert metric(text, "roomtemp_alert_outbox_pending") == 1
    assert metric(text, "roomtemp_alert_database_up") == 1
    last = metric(text, "roomtemp_alert_last_evaluation_timestamp_seconds")
    assert last is not None
    assert abs(last - time.time()) < 30
    # Bounded: no room or rule label anywhere.
    assert "room=" not in text
    assert "rule=" not in text

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert proc.stderr is not None
    assert b"Traceback" not in proc.stderr.read()


def test_not_ready_without_a_database() -> None:
    port = free_port()
    settings = Settings(
        _env_file=None,
        database_url="postgresql://roomtemp@127.0.0.1:1/roomtemp",
        alerts_port=port,
        alerts_metrics_seconds=60,
    )
    metrics = AlertMetrics()

    async def go() -> tuple[int, Any, str]:
        engine = create_async_engine("postgresql+psycopg://roomtemp@127.0.0.1:1/roomtemp")
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_observer(engine, settings, lambda: datetime.now(UTC), stop, metrics=metrics)
        )
        try:
            async with httpx.AsyncClient() as http:
                for _ in range(50):
                    try:
                        r = await http.get(f"http://127.0.0.1:{port}/readyz")
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
                m = await http.get(f"http://127.0.0.1:{port}/metrics")
            return r.status_code, r.json(), m.text
        finally:
            stop.set()
            await task
            await engine.dispose()

    status, body, text = asyncio.run(go())
    assert status == 503
    assert body == {"database": False, "schema": False}
    assert metric(text, "roomtemp_alert_database_up") == 0
