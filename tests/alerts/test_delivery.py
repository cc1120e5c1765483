"""The webhook sender against a real HTTP receiver on a loopback port and real PostgreSQL: the
payload forms and their links to the dashboard, the signature (verified by the receiver with
hashlib/hmac), retries on 500, timeouts and refused connections on the backoff schedule, a stable
idempotency key, the delivery log, giving up, silences, and two senders never sending one row at
once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx2 as httpx
import psycopg
import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from roomtemp.alerts import delivery, service
from roomtemp.alerts import eval_queries as evalq
from roomtemp.alerts.schemas import ReceiverIn, RuleIn
from roomtemp.settings import Settings
from tests.alerts.receiver import Receiver, Script, free_port
from tests.conftest import make_settings
from tests.threads import run_async

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SECRET = "s3cret-s3cret-s3cret"
REQUIRED_AM = {
    "version",
    "groupKey",
    "truncatedAlerts",
    "status",
    "receiver",
    "groupLabels",
    "commonLabels",
    "commonAnnotations",
    "externalURL",
    "alerts",
}
REQUIRED_AM_ALERT = {
    "status",
    "labels",
    "annotations",
    "startsAt",
    "endsAt",
    "generatorURL",
    "fingerprint",
}


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Env:
    db: psycopg.Connection[Any]
    url: str
    settings: Settings
    clock: Clock = field(default_factory=Clock)
    results: list[str] = field(default_factory=list)

    def run(self, fn: Callable[[AsyncEngine], Coroutine[Any, Any, Any]]) -> Any:
        async def go() -> Any:
            engine = create_async_engine(self.url)
            try:
                return await fn(engine)
            finally:
                await engine.dispose()

        return run_async(go())

    def poll(self, polls: int = 1) -> int:
        """`polls` sender polls at the current clock; rows claimed."""

        async def go(engine: AsyncEngine) -> int:
            claimed = 0
            rng = random.Random(7)
            async with httpx.AsyncClient() as client:
                for _ in range(polls):
                    claimed += await delivery.send_due(
                        engine, self.settings, self.clock, client, rng, self.results.append
                    )
            return claimed

        return int(self.run(go))

    def setup(
        self,
        receiver_url: str,
        fmt: str = "alertmanager",
        secret: str | None = SECRET,
        building: str = "hq",
        room: str = "r1",
    ) -> None:
        self.db.execute(
            "INSERT INTO building (key, name, time_zone) VALUES (%s, 'HQ', 'Europe/Zurich')",
            (building,),
        )
        self.db.execute(
            "INSERT INTO room (building_id, key, name) SELECT id, %s, '' FROM building", (room,)
        )

        async def go(engine: AsyncEngine) -> None:
            async with engine.begin() as conn:
                await service.put_receiver(
                    conn,
                    "hook",
                    ReceiverIn.model_validate(
                        {"url": receiver_url, "format": fmt, "secret": secret}
                    ),
                    T0,
                )
                body = {"building": building, "kind": "above", "threshold": 24, "unit": "celsius",
                        "severity": "critical", "receivers": ["hook"]}  # fmt: skip
                await service.put_rule(conn, "hot", RuleIn.model_validate(body), T0)

        self.run(go)

    def transition(
        self,
        to_state: str,
        at: datetime,
        value: float = 298.15,
        silenced_until: datetime | None = None,
    ) -> int:
        """Record a transition of the (hot, r1) alert as the evaluator does, and queue it."""
        row = self.db.execute("SELECT id FROM alert WHERE state <> 'resolved'").fetchone()
        if row is None:
            row = self.db.execute(
                "INSERT INTO alert (rule_id, room_id, state, started_at, fired_at, value) "
                "SELECT ru.id, r.id, 'firing', %s, %s, %s FROM alert_rule ru, room r RETURNING id",
                (at, at, value),
            ).fetchone()
        assert row is not None
        alert_id = int(row[0])
        resolved = at if to_state == "resolved" else None
        self.db.execute(
            "UPDATE alert SET state = %s, resolved_at = %s, silenced_until = %s WHERE id = %s",
            (to_state, resolved, silenced_until, alert_id),
        )
        from_state = "firing" if to_state == "resolved" else "pending"
        t = self.db.execute(
            "INSERT INTO alert_transition (alert_id, from_state, to_state, at, value, window_start,"
            " window_end, reason) VALUES (%s, %s, %s, %s, %s, %s, %s, 'threshold') RETURNING id",
            (alert_id, from_state, to_state, at, value, at - timedelta(minutes=15), at),
        ).fetchone()
        assert t is not None

        async def go(engine: AsyncEngine) -> int:
            async with engine.begin() as conn:
                return await evalq.insert_outbox(conn, [int(t[0])])

        assert self.run(go) == 1
        return int(t[0])

    def outbox(self) -> list[tuple[Any, ...]]:
        return self.db.execute(
            "SELECT idempotency_key, attempts, next_attempt_at, delivered_at, given_up_at, "
            "last_error FROM alert_outbox ORDER BY id"
        ).fetchall()

    def log(self) -> list[tuple[Any, ...]]:
        return self.db.execute(
            "SELECT attempted_at, status, error, duration_ms FROM alert_delivery ORDER BY id"
        ).fetchall()


def _settings(database_url: str, **extra: Any) -> Settings:
    return make_settings(
        database_url=database_url,
        alert_delivery_timeout_seconds=0.3,
        alert_delivery_first_retry_seconds=1,
        alert_delivery_max_retry_seconds=4,
        alert_delivery_max_age_seconds=20,
        **extra,
    )


@pytest.fixture
def env(database_url: str, db: psycopg.Connection[Any]) -> Env:
    return Env(db, database_url, _settings(database_url))


def test_alertmanager_payload_signature_and_log(env: Env) -> None:
    with Receiver(SECRET) as rx:
        env.setup(rx.url)
        tid = env.transition("firing", T0, value=298.65)
        assert env.poll() == 1
        env.clock.now = T0 + timedelta(minutes=5)
        env.transition("resolved", env.clock.now, value=296.0)
        assert env.poll() == 1
    assert [r.signed for r in rx.received] == [True, True]
    first, second = (r.json for r in rx.received)
    assert set(first) >= REQUIRED_AM
    assert set(first["alerts"][0]) >= REQUIRED_AM_ALERT
    assert first["version"] == "4"
    assert first["status"] == "firing"
    assert first["receiver"] == "hook"
    am = first["alerts"][0]
    assert am["labels"] == {
        "alertname": "hot", "building": "hq", "room": "r1", "sensor_type": "temperature",
        "severity": "critical",
    }  # fmt: skip
    assert am["annotations"]["value"] == "25.50"
    assert am["annotations"]["unit"] == "celsius"
    assert "25.50 celsius" in am["annotations"]["summary"]
    assert am["startsAt"] == "2026-12-01T09:00:00Z"
    assert am["endsAt"] == "0001-01-01T00:00:00Z"
    done = second["alerts"][0]
    assert second["status"] == "resolved"
    assert done["endsAt"] == "2026-12-01T09:05:00Z"
    assert done["fingerprint"] == am["fingerprint"]
    # Without ALERT_EXTERNAL_URL no link, as Alertmanager without an external URL.
    assert (first["externalURL"], am["generatorURL"]) == ("", "")
    assert second["groupKey"] == first["groupKey"]
    headers = rx.received[0].headers
    assert headers["idempotency-key"] == f"{tid}-1"
    assert headers["x-roomtemp-timestamp"] == str(int(T0.timestamp()))
    assert headers["content-type"] == "application/json"
    assert env.results == ["delivered", "delivered"]
    log = env.log()
    assert [(row[1], row[2]) for row in log] == [(200, None), (200, None)]
    assert all(row[3] >= 0 for row in log)
    assert [row[3] is not None for row in env.outbox()] == [True, True]  # delivered_at


def test_plain_json_payload_and_no_signature_without_secret(env: Env) -> None:
    with Receiver(SECRET) as rx:
        env.setup(rx.url, fmt="json", secret=None)
        tid = env.transition("firing", T0, value=298.65)
        env.poll()
    (got,) = rx.received
    assert "x-roomtemp-signature" not in got.headers
    assert not got.signed
    body = got.json
    assert body["idempotency_key"] == f"{tid}-1"
    assert body["transition"]["to_state"] == "firing"
    assert body["transition"]["value"] == pytest.approx(25.5)
    assert body["transition"]["window_start"] == "2026-12-01T08:45:00Z"
    assert body["alert"]["building"] == "hq"
    assert body["alert"]["room"] == "r1"
    assert body["alert"]["url"] is None  # no ALERT_EXTERNAL_URL
    assert body["rule"]["name"] == "hot"
    assert body["rule"]["threshold"] == pytest.approx(24)
    assert body["rule"]["unit"] == "celsius"


# A building key with a character the dashboard escapes (API keys allow `:`), and a room key
# only the database allows, to show that every link is escaped as the dashboard's own.
LINKED_BUILDING = "hq:1"
LINKED_ROOM = "3.14 ü/x"
ROOM_PAGE = "https://roomtemp.example.com/#/room/hq%3A1/3.14%20%C3%BC%2Fx"


def _dashboard_route(link: str) -> list[str]:
    """What the dashboard's router (app.js `render`) makes of a link: the hash's path, split at
    `/`, each part URI-decoded."""
    return [unquote(part) for part in urlsplit(link).fragment.split("/") if part]


@pytest.mark.parametrize("fmt", ["alertmanager", "json"])
def test_payloads_link_the_room_page_under_the_external_url(env: Env, fmt: str) -> None:
    # A trailing slash is dropped: Alertmanager's externalURL has none either.
    env.settings = _settings(env.url, alert_external_url="https://roomtemp.example.com/")
    with Receiver(SECRET) as rx:
        env.setup(rx.url, fmt=fmt, building=LINKED_BUILDING, room=LINKED_ROOM)
        env.transition("firing", T0)
        env.poll()
    (got,) = rx.received
    assert got.signed
    body = got.json
    if fmt == "alertmanager":
        assert body["externalURL"] == "https://roomtemp.example.com"
        (alert,) = body["alerts"]
        assert alert["labels"]["room"] == LINKED_ROOM
        link = alert["generatorURL"]
    else:
        assert body["alert"]["room"] == LINKED_ROOM
        link = body["alert"]["url"]
    assert link == ROOM_PAGE
    assert _dashboard_route(link) == ["room", LINKED_BUILDING, LINKED_ROOM]


@pytest.mark.parametrize(
    "value",
    [
        "ftp://roomtemp.example.com",
        "roomtemp.example.com",
        "https://",
        "https://roomtemp.example.com/dash",
        "https://roomtemp.example.com/?x=1",
        "https://roomtemp.example.com/#/room",
        "https://user:pw@roomtemp.example.com",
        "https://roomtemp.example.com:99999",
    ],
)
def test_external_url_must_be_a_bare_http_base(value: str) -> None:
    with pytest.raises(ValidationError, match="alert_external_url") as refused:
        make_settings(alert_external_url=value)
    # Startup errors are logged: the refused value is never echoed (it may hold a password).
    assert "input_value" not in str(refused.value)
    assert "pw@" not in str(refused.value)


def test_an_empty_external_url_is_unset() -> None:
    # docker compose passes `${ALERT_EXTERNAL_URL:-}` as "".
    assert make_settings(alert_external_url="").alert_external_url is None
    assert make_settings(alert_external_url="http://10.0.0.5:8000/").alert_external_url == (
        "http://10.0.0.5:8000"
    )


def _failing_schedule(env: Env, rx_answers: list[int | float]) -> tuple[list[float], Receiver]:
    """Drive the sender at each due instant until the row is delivered or given up; the waits."""
    waits: list[float] = []
    with Receiver(SECRET, Script(list(rx_answers))) as rx:
        env.setup(rx.url)
        env.transition("firing", T0)
        for _ in range(20):
            env.poll()
            _, _, next_at, delivered, given_up, _ = env.outbox()[0]
            if delivered or given_up:
                break
            waits.append((next_at - env.clock.now).total_seconds())
            env.clock.now = next_at
    return waits, rx


def _assert_backoff(waits: list[float]) -> None:
    """first=1, cap=4, equal jitter: wait n lies in [base/2, base], base = min(4, 2^(n-1))."""
    for n, wait in enumerate(waits, start=1):
        base = min(4.0, 2.0 ** (n - 1))
        assert base / 2 <= wait <= base, (n, wait)


def test_retries_on_500_with_backoff_then_delivered(env: Env) -> None:
    waits, rx = _failing_schedule(env, [500, 503, 404, 500])
    assert len(waits) == 4
    _assert_backoff(waits)
    assert len(rx.received) == 5
    assert len({r.key for r in rx.received}) == 1
    assert all(r.signed for r in rx.received)
    assert [(row[1], row[2]) for row in env.log()] == [
        (500, "HTTP 500"), (503, "HTTP 503"), (404, "HTTP 404"), (500, "HTTP 500"), (200, None),
    ]  # fmt: skip
    _key, attempts, _, delivered, given_up, _ = env.outbox()[0]
    assert attempts == 5
    assert delivered is not None
    assert given_up is None
    assert env.results == ["failed"] * 4 + ["delivered"]


def test_timeouts_are_failed_attempts(env: Env) -> None:
    waits, _rx = _failing_schedule(env, [1.0, 1.0])  # answers after 1 s; the sender waits 0.3 s
    assert len(waits) == 2
    _assert_backoff(waits)
    log = env.log()
    assert [row[1] for row in log] == [None, None, 200]
    assert all("timeout" in row[2] for row in log[:2])
    assert all(250 <= row[3] < 1000 for row in log[:2])  # duration_ms: cut at the timeout


def test_refused_connection_retried_until_given_up(env: Env) -> None:
    env.setup(f"http://127.0.0.1:{free_port()}/hook")  # nothing listens there
    env.transition("firing", T0)
    waits: list[float] = []
    for _ in range(30):
        env.poll()
        _, _, next_at, delivered, given_up, last_error = env.outbox()[0]
        assert delivered is None
        if given_up:
            break
        waits.append((next_at - env.clock.now).total_seconds())
        env.clock.now = next_at
    _assert_backoff(waits)
    # Given up by the first failed attempt at or after max age (20 s after the transition).
    assert given_up is not None
    assert given_up - T0 >= timedelta(seconds=20)
    assert given_up - T0 < timedelta(seconds=20 + 4)
    assert "ConnectError" in last_error
    assert env.results.count("given_up") == 1
    assert env.results[-1] == "given_up"
    assert len(env.log()) == len(waits) + 1
    assert SECRET not in str(env.log())
    assert SECRET not in str(env.outbox())
    env.clock.now += timedelta(hours=1)
    assert env.poll() == 0  # a given-up row is never taken again


def test_silenced_alert_is_held_then_only_its_latest_transition_is_sent(env: Env) -> None:
    until = T0 + timedelta(minutes=30)
    with Receiver(SECRET) as rx:
        env.setup(rx.url)
        fired = env.transition("firing", T0, silenced_until=until)
        env.poll()
        assert rx.received == []  # held
        assert env.outbox()[0][2] == until
        assert env.outbox()[0][1] == 0
        env.clock.now = T0 + timedelta(minutes=10)
        resolved = env.transition("resolved", env.clock.now, silenced_until=until)
        env.poll()
        assert rx.received == []
        env.clock.now = until
        env.poll()
    assert [r.key for r in rx.received] == [f"{resolved}-1"]  # the latest only
    rows = {row[0]: row for row in env.outbox()}
    assert rows[f"{fired}-1"][4] is not None
    assert rows[f"{fired}-1"][5] == delivery.SUPERSEDED
    assert rows[f"{resolved}-1"][3] is not None
    assert sorted(env.results) == ["delivered", "skipped"]


def test_two_senders_never_send_one_row_twice(env: Env) -> None:
    env.settings = env.settings.model_copy(update={"alert_delivery_batch": 3})
    with Receiver(SECRET, Script([0.2] * 40)) as rx:  # slow answers: both senders overlap
        env.setup(rx.url)
        for i in range(12):
            env.transition("firing" if i % 2 == 0 else "resolved", T0 + timedelta(minutes=i))
        env.clock.now = T0 + timedelta(hours=1)

        async def two(engine: AsyncEngine) -> list[int]:
            async def sender() -> int:
                rng = random.Random()
                async with httpx.AsyncClient() as client:
                    total = 0
                    while claimed := await delivery.send_due(
                        engine, env.settings, env.clock, client, rng
                    ):
                        total += claimed
                    return total

            return list(await asyncio.gather(sender(), sender()))

        per_sender = env.run(two)
    keys = [r.key for r in rx.received]
    assert len(keys) == 12
    assert len(set(keys)) == 12
    assert sum(per_sender) == 12
    assert min(per_sender) > 0


def test_a_silence_lifted_early_releases_the_held_latest_transition_at_once(env: Env) -> None:
    until = T0 + timedelta(hours=1)
    with Receiver(SECRET) as rx:
        env.setup(rx.url)
        fired = env.transition("firing", T0, silenced_until=until)
        env.poll()
        env.clock.now = T0 + timedelta(minutes=5)
        resolved = env.transition("resolved", env.clock.now, silenced_until=until)
        env.poll()
        assert rx.received == []
        env.clock.now = T0 + timedelta(minutes=10)
        env.db.execute("UPDATE alert SET silenced_until = NULL")  # DELETE …/silence
        env.poll()
    assert [r.key for r in rx.received] == [f"{resolved}-1"]
    rows = {row[0]: row for row in env.outbox()}
    assert rows[f"{fired}-1"][5] == delivery.SUPERSEDED
    assert rows[f"{resolved}-1"][3] == env.clock.now  # delivered at once, not at `until`
