"""A real Mosquitto per test and the bridge as a real `roomtemp mqtt` process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.broker import INSTALL, Mosquitto, free_port, mosquitto_binary
from tests.postgres_provider import libpq_conninfo, sqlalchemy_url
from tests.tools import missing_tool


@pytest.fixture
def mosquitto_path() -> str:
    found = mosquitto_binary()
    if found is None:
        missing_tool(f"mosquitto is not installed: {INSTALL}")
    return found


@pytest.fixture
def broker(mosquitto_path: str) -> Iterator[Mosquitto]:
    with Mosquitto(mosquitto_path) as running:
        yield running


class Bridge:
    """One `roomtemp mqtt` process; start() again after kill() is a restart."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = int(env["MQTT_HEALTH_PORT"])
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkstemp(prefix="roomtemp-bridge-", suffix=".log")[1])

    def start(self, *, ready: bool = True) -> Bridge:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "roomtemp", "mqtt"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if ready:
            self.wait(lambda: self.get("/readyz")[0] == 200, "ready")
        return self

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def metric(self, name: str, labels: str = "") -> float:
        """A sample's value: metric("roomtemp_mqtt_messages_total"), labels 'reason="x"'."""
        text = self.get("/metrics")[1]
        pattern = (
            re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" (\S+)"
        )
        found = re.search("^" + pattern + "$", text, re.M)
        return float(found.group(1)) if found else 0.0

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.05)
        samples = [ln for ln in self.get("/metrics")[1].splitlines() if ln.startswith("roomtemp")]
        raise AssertionError(
            f"bridge not {what}; its log:\n{self.log.read_text()[-3000:]}\n" + "\n".join(samples)
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self) -> int:
        assert self.process is not None
        self.process.terminate()
        return self.process.wait(30)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.log.unlink(missing_ok=True)


BridgeFactory = Callable[..., Bridge]


@pytest.fixture
def bridge_factory(database_url: str, broker: Mosquitto, db: Any) -> Iterator[BridgeFactory]:
    bridges: list[Bridge] = []

    def factory(subscriptions: list[dict[str, Any]], **env: str) -> Bridge:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "MQTT_"))}
        base.update(
            DATABASE_URL=database_url,
            MQTT_URL=broker.url,
            MQTT_SUBSCRIPTIONS=orjson.dumps(subscriptions).decode(),
            MQTT_HEALTH_PORT=str(free_port()),
            MQTT_CLIENT_ID=f"bridge-{len(bridges)}-{os.getpid()}",
            LOG_FORMAT="text",
        )
        base.update(env)
        bridge = Bridge(base)
        bridges.append(bridge)
        return bridge

    yield factory
    for b in bridges:
        b.close()


def client(broker: Mosquitto, client_id: str = "", **kwargs: Any) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, **kwargs)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    return c


def publish(
    broker: Mosquitto, topic: str, payload: bytes | str | dict[str, Any] | list[Any]
) -> None:
    """Publish with QoS 1 and wait for the broker's PUBACK."""
    data = orjson.dumps(payload) if isinstance(payload, dict | list) else payload
    c = client(broker)
    c.publish(topic, data, qos=1).wait_for_publish(10)
    c.disconnect()
    c.loop_stop()


class Listener:
    """Collects the messages on a topic filter (the dead letters)."""

    def __init__(self, broker: Mosquitto, topic: str) -> None:
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2)
        self._client.on_message = lambda _c, _u, m: self._add(bytes(m.payload))
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.connect("127.0.0.1", broker.port)
        self._client.subscribe(topic, qos=1)
        self._client.loop_start()
        assert subscribed.wait(10)

    def _add(self, payload: bytes) -> None:
        with self._lock:
            self.messages.append(orjson.loads(payload))

    def wait(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.messages) < count:
            time.sleep(0.05)
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def conninfo_of(database_url: str) -> str:
    return libpq_conninfo(sqlalchemy_url(database_url))
