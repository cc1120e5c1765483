"""A QoS 1 publisher that keeps its own session and retries across broker restarts, recording
which messages the broker acknowledged (PUBACK). Used by the fault check and the benchmark."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion


def capture(n: int, start: datetime, rooms: int = 50) -> dict[str, Any]:
    """The n-th capture of a load: a distinct key (room, ts) and a known value."""
    return {
        "building": "load",
        "room": f"r{n % rooms}",
        "value": 15 + (n % 100) / 10,
        "unit": "C",
        "ts": (start + timedelta(seconds=n // rooms)).isoformat(),
    }


def _acked(info: paho.MQTTMessageInfo) -> bool:
    if info.rc == paho.MQTT_ERR_NO_CONN:
        # Published while the broker was away: paho queued it and sends it after reconnecting
        # (is_published() would raise on the rc of the first attempt).
        with info._condition:  # paho has no public accessor for this case
            return bool(info._published)
    return info.is_published()


class Publisher:
    def __init__(self, port: int, client_id: str = "roomtemp-load", inflight: int = 1000) -> None:
        # paho's own record of each message: is_published() once the broker sent its PUBACK.
        # (No on_publish callback with a lock of ours: paho calls it holding its own locks.)
        self.infos: list[paho.MQTTMessageInfo] = []
        self._oldest = 0
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        self.client.max_inflight_messages_set(inflight)
        self.client.max_queued_messages_set(0)  # keep everything until acknowledged
        self.client.reconnect_delay_set(1, 2)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: Any) -> None:
        self.infos.append(self.client.publish(topic, orjson.dumps(payload), qos=1))

    def acked(self) -> list[int]:
        """The sequence numbers of the messages the broker acknowledged."""
        return [n for n, info in enumerate(self.infos) if _acked(info)]

    def wait_acked(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.backlog() > 0:
            time.sleep(0.05)

    def backlog(self) -> int:
        """Messages not acknowledged yet (at least: counted from the oldest unacknowledged)."""
        while self._oldest < len(self.infos) and _acked(self.infos[self._oldest]):
            self._oldest += 1
        return len(self.infos) - self._oldest

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
