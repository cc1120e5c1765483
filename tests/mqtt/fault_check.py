"""The bridge under faults: at least 100,000 captures published with QoS 1 while the bridge is
SIGKILLed and restarted and the broker is restarted (graceful, persistence on). Everything the
broker acknowledged to the publisher must be stored exactly once: 0 lost, 0 double counted
(capture rows and rollup counts). Run by `make mqtt-fault-test` (CI: `make check`);
MQTT_FAULT_CAPTURES scales it.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

import psycopg

from tests.broker import Mosquitto
from tests.mqtt.conftest import BridgeFactory
from tests.mqtt.publisher import Publisher, capture

CAPTURES = int(os.environ.get("MQTT_FAULT_CAPTURES", "100000"))
START = datetime(2026, 11, 1, tzinfo=UTC)
TOPIC = "load/captures"


def test_no_capture_lost_or_doubled_across_bridge_kills_and_a_broker_restart(
    bridge_factory: BridgeFactory, broker: Mosquitto, db: psycopg.Connection[Any]
) -> None:
    bridge = bridge_factory([{"topic": TOPIC, "format": "captures"}]).start()
    publisher = Publisher(broker.port)
    faults = {
        CAPTURES // 5: "kill bridge",
        CAPTURES // 2: "restart broker",
        CAPTURES * 4 // 5: "kill bridge",
    }
    started = time.monotonic()
    try:
        for n in range(CAPTURES):
            publisher.publish(TOPIC, capture(n, START))
            while publisher.backlog() > 5000:  # the publisher's own flow control
                time.sleep(0.01)
            fault = faults.get(n)
            if fault == "kill bridge":
                bridge.kill()
                time.sleep(0.5)
                bridge.start(ready=False)
            elif fault == "restart broker":
                broker.stop()
                time.sleep(0.5)
                broker.start()
        print(f"published in {time.monotonic() - started:.1f} s", flush=True)
        publisher.wait_acked(timeout=120)
        acked = publisher.acked()
        print(f"acked {len(acked)} after {time.monotonic() - started:.1f} s", flush=True)
        assert len(acked) == CAPTURES, "the broker did not acknowledge every message"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            row = db.execute("SELECT count(*) FROM capture").fetchone()
            if row is not None and row[0] >= CAPTURES:
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
    finally:
        publisher.close()
    stored, total = db.execute("SELECT count(*), sum(value) FROM capture").fetchone() or (0, 0)
    expected = sum(capture(n, START)["value"] + 273.15 for n in range(CAPTURES))
    rollup = db.execute("SELECT sum(count) FROM capture_rollup_15m").fetchone()
    print(f"\n{CAPTURES} captures, 2 bridge kills + 1 broker restart: {elapsed:.1f} s")
    assert stored == CAPTURES  # 0 lost (every key is distinct, so none doubled either)
    assert abs(total - expected) < 1e-6 * CAPTURES
    assert rollup == (CAPTURES,)  # rollups counted each capture once despite redeliveries
