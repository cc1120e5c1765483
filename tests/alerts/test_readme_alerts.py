"""The README's alert example, replayed after its walk-through: the receiver and rule PUTs, a real
evaluation round and a real delivery to a real HTTP receiver, the firing alert the API lists and
the webhook the receiver got must be what the README shows (bar the instants, which are the
evaluation's: here the walk-through's pinned clock)."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx
from fastapi.testclient import TestClient
from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.alerts import delivery
from roomtemp.alerts.evaluator import evaluate_once
from roomtemp.clock import fixed_clock
from tests.alerts.receiver import Receiver
from tests.api.test_readme import replay, walkthrough
from tests.conftest import NOW, make_settings
from tests.threads import run_async

README = Path(__file__).resolve().parents[2] / "README.md"
HOOK = "http://127.0.0.1:9000/hook"  # the receiver the README names
#: Instants that are the evaluation's (the README's come from a real `make run`), and the silent
#: rule's value, the seconds from the lobby's last capture to that instant (checked on its own).
INSTANTS = {
    "created_at",
    "updated_at",
    "started_at",
    "fired_at",
    "at",
    "window_start",
    "window_end",
}
SINCE = {"value"}
#: The walk-through's last lobby capture (its `ts` 1795341600).
LOBBY_LAST = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def section() -> str:
    return README.read_text().split("<!-- alerts:start -->")[1].split("<!-- alerts:end -->")[0]


def mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "<ts>" if k in INSTANTS | SINCE and v is not None else mask(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def test_readme_alert_example(client: TestClient, database_url: str) -> None:
    for command, _ in walkthrough():
        replay(client, command)
    text = section()
    console = re.findall(r"```console\n(.*?)```", text, flags=re.S)
    assert len(console) == 1
    lines = console[0].strip().splitlines()
    webhook = re.findall(r"```http\n(.*?)```", text, flags=re.S)
    assert len(webhook) == 1
    request_line, key_line, body = webhook[0].strip().splitlines()
    settings = make_settings(database_url=database_url, alert_delivery_timeout_seconds=5)

    async def evaluate_and_deliver() -> None:
        engine = create_async_engine(database_url)
        try:
            done = await evaluate_once(engine, NOW, settings.default_time_zone)
            assert done.done
            async with httpx.AsyncClient() as http:
                claimed = await delivery.send_due(
                    engine, settings, fixed_clock(NOW), http, random.Random(0)
                )
            assert claimed == 1
        finally:
            await engine.dispose()

    ran = 0
    with Receiver("unused-secret-0000") as rx:
        for i, line in enumerate(lines):
            if line.startswith("$ curl"):
                got = replay(client, line.replace(HOOK, rx.url))
                shown = json.loads(lines[i + 1].replace(HOOK, rx.url))
                assert mask(got) == mask(shown), line
                if "/v1/alerts?" in line:
                    assert got["items"][0]["value"] == (NOW - LOBBY_LAST).total_seconds()
            elif line.startswith("$ .venv/bin/roomtemp alerts"):
                run_async(evaluate_and_deliver())
                ran += 1
        assert ran == 1
        assert len(rx.received) == 1
        got_hook = rx.received[0]
    assert request_line.split()[:2] == ["POST", "/hook"]
    assert got_hook.path == "/hook"
    name, value = key_line.split(":", 1)
    assert got_hook.headers[name.strip().lower()] == value.strip()
    assert mask(got_hook.json) == mask(json.loads(body))
    transition = got_hook.json["transition"]
    assert transition["value"] == (NOW - LOBBY_LAST).total_seconds()
    assert transition["at"] == NOW.isoformat().replace("+00:00", "Z")
