"""The bridge against a real Mosquitto and real PostgreSQL: formats and mappings, dead letters,
acknowledgement only after commit (SIGKILL before it), MQTT 3.1.1 and 5, passwords, readiness."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.broker import Mosquitto, make_ca
from tests.mqtt.conftest import BridgeFactory, Listener, conninfo_of, publish

TS = "2026-11-30T10:00:00Z"
ALL = [
    {"topic": "roomtemp/captures", "format": "captures"},
    {"topic": "sensors/{sensor}/temperature", "format": "sensor", "mapping": {"unit": "C"}},
    {"preset": "zigbee2mqtt"},
    {"preset": "shelly"},
]
SHELLY_STATUS = {
    "src": "shellyplusht-b8d61a8b17cc",
    "dst": "shellyplusht-b8d61a8b17cc/events",
    "method": "NotifyFullStatus",
    "params": {
        "ts": 1_796_032_800.62,  # 2026-11-30T10:00:00.62Z
        "devicepower:0": {"id": 0, "battery": {"V": 5.9, "percent": 88}},
        "humidity:0": {"id": 0, "rh": 42.2},
        "temperature:0": {"id": 0, "tC": 19.8, "tF": 67.6},
        "wifi": {"sta_ip": "192.0.2.7", "status": "got ip", "rssi": -61},
    },
}


def register(client: TestClient, *keys: tuple[str, str]) -> None:
    humidity = {"unit": "percent", "min_value": 0, "max_value": 100, "description": "RH"}
    assert client.put("/v1/sensor-types/humidity", json=humidity).status_code in (200, 201)
    for key, sensor_type in keys:
        body = {"key": key, "sensor_type": sensor_type, "building": "hq", "room": "r1"}
        assert client.post("/v1/sensors", json=body).status_code == 201


def stored(db: psycopg.Connection[Any]) -> dict[str, list[float]]:
    rows = db.execute(
        "SELECT coalesce(s.key, b.key || '/' || r.key), round(c.value::numeric, 2)::float"
        " FROM capture c JOIN sensor s ON s.id = c.sensor_id JOIN room r ON r.id = c.room_id"
        " JOIN building b ON b.id = r.building_id ORDER BY 1, c.ts"
    ).fetchall()
    out: dict[str, list[float]] = {}
    for key, value in rows:
        out.setdefault(key, []).append(value)
    return out


def test_every_format_and_mapping(
    bridge_factory: BridgeFactory,
    broker: Mosquitto,
    client: TestClient,
    db: psycopg.Connection[Any],
) -> None:
    register(
        client,
        ("th-1", "temperature"),
        ("kitchen.temperature", "temperature"),
        ("kitchen.humidity", "humidity"),
        ("shellyplusht-b8d61a8b17cc.temperature", "temperature"),
        ("shellyplusht-b8d61a8b17cc.humidity", "humidity"),
    )
    letters = Listener(broker, "roomtemp/dead-letter")
    bridge = bridge_factory(ALL).start()
    # captures: the API's JSON, one object and an array with both forms
    publish(
        broker,
        "roomtemp/captures",
        {"building": "hq", "room": "r2", "value": 20.0, "unit": "C", "ts": TS},
    )
    publish(
        broker,
        "roomtemp/captures",
        [
            {
                "building": "hq",
                "room": "r2",
                "value": 21.0,
                "unit": "C",
                "ts": "2026-11-30T10:01:00Z",
            },
            {"sensor": "th-1", "value": 22.0, "unit": "C", "ts": TS, "battery": 50},
        ],
    )
    # sensor: the key from the topic, a bare number (receive time) or an object
    publish(broker, "sensors/th-1/temperature", b"23.5")
    publish(
        broker,
        "sensors/th-1/temperature",
        {"value": 75.2, "unit": "F", "ts": "2026-11-30T11:00:00Z"},
    )
    # flat: Zigbee2MQTT's device state, and a Shelly H&T NotifyFullStatus; a button press and a
    # Shelly NotifyEvent carry no mapped field and are ignored
    publish(
        broker,
        "zigbee2mqtt/kitchen",
        {"temperature": 21.3, "humidity": 45, "battery": 97, "linkquality": 120},
    )
    publish(broker, "zigbee2mqtt/kitchen", {"action": "single"})
    publish(broker, "shellyplusht-b8d61a8b17cc/events/rpc", SHELLY_STATUS)
    publish(
        broker,
        "shellyplusht-b8d61a8b17cc/events/rpc",
        {"method": "NotifyEvent", "params": {"ts": 1.0}},
    )
    bridge.wait(lambda: bridge.metric("roomtemp_mqtt_messages_total") == 8, "received 8")
    bridge.wait(
        lambda: bridge.metric("roomtemp_mqtt_ignored_total", 'reason="no_mapped_field"') == 2,
        "done",
    )
    bridge.wait(
        lambda: bridge.metric("roomtemp_mqtt_captures_total", 'outcome="inserted"') == 9, "stored 9"
    )
    assert letters.messages == []
    letters.close()
    by_key = stored(db)
    assert by_key["hq/r2"] == [293.15, 294.15]
    assert sorted(by_key["th-1"]) == [295.15, 296.65, 297.15]  # 22 C, 23.5 C, 75.2 F
    assert by_key["kitchen.temperature"] == [294.45]
    assert by_key["kitchen.humidity"] == [45.0]
    assert by_key["shellyplusht-b8d61a8b17cc.temperature"] == [292.95]
    assert by_key["shellyplusht-b8d61a8b17cc.humidity"] == [42.2]
    shelly_ts = db.execute(
        "SELECT c.ts FROM capture c JOIN sensor s ON s.id = c.sensor_id"
        " WHERE s.key = 'shellyplusht-b8d61a8b17cc.temperature'"
    ).fetchone()
    assert shelly_ts is not None
    assert shelly_ts[0].isoformat() == "2026-11-30T10:00:00.620000+00:00"
    status = dict(
        db.execute(
            "SELECT s.key, (st.battery, st.signal)::text FROM sensor_status st"
            " JOIN sensor s ON s.id = st.sensor_id"
        ).fetchall()
    )
    assert status["kitchen.temperature"] == "(97,120)"
    assert status["shellyplusht-b8d61a8b17cc.humidity"] == "(88,-61)"
    assert status["th-1"] == "(50,)"


def test_bad_messages_are_dead_lettered_counted_and_acknowledged(
    bridge_factory: BridgeFactory,
    broker: Mosquitto,
    client: TestClient,
    db: psycopg.Connection[Any],
) -> None:
    register(client, ("th-1", "temperature"))
    letters = Listener(broker, "roomtemp/dead-letter")
    bridge = bridge_factory(ALL).start()
    publish(broker, "sensors/th-1/temperature", b"{not json")
    publish(broker, "sensors/nobody/temperature", b"21.0")
    publish(broker, "sensors/th-1/temperature", {"value": 900, "unit": "C", "ts": TS})
    # one good and one bad item in a message: the good one is stored
    publish(
        broker,
        "roomtemp/captures",
        [
            {"sensor": "th-1", "value": 20.5, "unit": "C", "ts": TS},
            {"sensor": "th-1", "value": "x", "ts": TS},
        ],
    )
    publish(
        broker,
        "sensors/th-1/temperature",
        {"value": 21.0, "unit": "C", "ts": "2026-11-30T10:05:00Z"},
    )
    dead = letters.wait(4)
    letters.close()
    assert [d["error"]["code"] for d in dead] == [
        "malformed_request",
        "unknown_sensor",
        "invalid_input",
        "invalid_input",
    ]
    assert dead[0]["topic"] == "sensors/th-1/temperature"
    assert dead[0]["payload"]["size"] == 9
    assert dead[0]["payload"]["head"] == "{not json"
    assert len(dead[0]["payload"]["sha256"]) == 64
    assert dead[1]["error"]["details"][0]["code"] == "unknown_sensor"
    assert dead[3]["error"]["details"][0]["index"] == 1
    assert sorted(stored(db)["th-1"]) == pytest.approx([293.65, 294.15])
    bridge.wait(
        lambda: bridge.metric("roomtemp_mqtt_captures_total", 'outcome="inserted"') == 2, "done"
    )
    assert bridge.metric("roomtemp_mqtt_dead_letters_total", 'reason="invalid_input"') == 2
    assert bridge.metric("roomtemp_mqtt_dead_letters_total", 'reason="malformed_request"') == 1
    # The unknown key is listed for an operator to register, as over HTTP.
    assert [u["key"] for u in client.get("/v1/sensors/unknown").json()["items"]] == ["nobody"]


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_acknowledged_only_after_commit(
    protocol: str,
    bridge_factory: BridgeFactory,
    broker: Mosquitto,
    database_url: str,
    db: psycopg.Connection[Any],
) -> None:
    """SIGKILL while the commit is blocked: the broker redelivers, the capture is stored once."""
    bridge = bridge_factory(ALL[:1], MQTT_PROTOCOL=protocol).start()
    capture = {"building": "hq", "room": "r1", "value": 21.0, "unit": "C", "ts": TS}
    with psycopg.connect(conninfo_of(database_url)) as locker:
        locker.execute("LOCK TABLE capture IN EXCLUSIVE MODE")
        publish(broker, "roomtemp/captures", capture)
        bridge.wait(lambda: bridge.metric("roomtemp_mqtt_messages_total") == 1, "received")
        time.sleep(0.5)  # time enough for an early PUBACK to reach the broker, were one sent
        bridge.kill()
        locker.rollback()
    assert db.execute("SELECT count(*) FROM capture").fetchone() == (0,)
    bridge.start()  # the same client id: the broker's session still holds the message
    bridge.wait(
        lambda: bridge.metric("roomtemp_mqtt_captures_total", 'outcome="inserted"') == 1, "stored"
    )
    # A second restart: acknowledged, so not redelivered.
    assert bridge.terminate() == 0
    bridge.start()
    publish(broker, "roomtemp/captures", capture)  # an identical re-send: a duplicate
    bridge.wait(
        lambda: bridge.metric("roomtemp_mqtt_captures_total", 'outcome="duplicate"') == 1, "dup"
    )
    assert bridge.metric("roomtemp_mqtt_messages_total") == 1
    assert db.execute("SELECT count(*) FROM capture").fetchone() == (1,)
    assert db.execute("SELECT sum(count) FROM capture_rollup_15m").fetchone() == (1,)


def test_password_auth_and_readiness(
    bridge_factory: BridgeFactory,
    mosquitto_path: str,
    database_url: str,
    db: psycopg.Connection[Any],
) -> None:
    with Mosquitto(mosquitto_path, users={"bridge": "s3cret-pw"}) as secured:
        env = {"MQTT_URL": secured.url, "MQTT_USERNAME": "bridge"}
        wrong = bridge_factory(ALL[:1], MQTT_PASSWORD="nope", **env).start(ready=False)
        wrong.wait(lambda: wrong.get("/healthz")[0] == 200, "alive")
        status, body = wrong.get("/readyz")
        assert (status, body) == (503, '{"broker":false,"database":true}')
        assert "nope" not in wrong.log.read_text()
        right = bridge_factory(ALL[:1], MQTT_PASSWORD="s3cret-pw", **env).start()
        assert right.get("/readyz") == (200, '{"broker":true,"database":true}')
        secured.stop()
        right.wait(lambda: right.get("/readyz")[0] == 503, "unready without the broker")
        secured.start()
        right.wait(lambda: right.get("/readyz")[0] == 200, "ready again")


def test_tls_to_the_broker(
    bridge_factory: BridgeFactory, mosquitto_path: str, db: psycopg.Connection[Any]
) -> None:
    """mqtts:// with MQTT_CA_FILE: the bridge verifies the broker's certificate (a CA that did not
    sign it is refused) and stores what arrives over TLS."""
    with Mosquitto(mosquitto_path, tls=True) as secured:
        env = {"MQTT_URL": secured.tls_url}
        other = make_ca(secured.dir, "other-ca")
        wrong = bridge_factory(ALL[:1], MQTT_CA_FILE=str(other), **env).start(ready=False)
        wrong.wait(lambda: wrong.get("/healthz")[0] == 200, "alive")
        time.sleep(1)  # a few connection attempts, each refused by the certificate check
        assert wrong.get("/readyz") == (503, '{"broker":false,"database":true}')
        right = bridge_factory(ALL[:1], MQTT_CA_FILE=str(secured.ca_file), **env).start()
        assert right.get("/readyz") == (200, '{"broker":true,"database":true}')
        capture = {"building": "hq", "room": "r1", "value": 21.5, "unit": "C", "ts": TS}
        publish(secured, "roomtemp/captures", capture)
        right.wait(lambda: stored(db) == {"hq/r1": [294.65]}, "stored over TLS")


def test_a_stalled_database_stops_acknowledging_and_the_bridge_resumes(
    bridge_factory: BridgeFactory,
    broker: Mosquitto,
    database_url: str,
    db: psycopg.Connection[Any],
) -> None:
    """Writes time out (statement_timeout while the table is locked): not ready, nothing
    acknowledged or lost; stored as soon as the database answers again, without a restart."""
    letters = Listener(broker, "roomtemp/dead-letter")
    # One batch of all four messages (a long batch window), retried while the table is locked.
    bridge = bridge_factory(ALL[:1], DB_STATEMENT_TIMEOUT_MS="300", MQTT_BATCH_MS="2000").start()
    with psycopg.connect(conninfo_of(database_url)) as locker:
        locker.execute("LOCK TABLE capture IN EXCLUSIVE MODE")
        publish(broker, "roomtemp/captures", b"[{")
        for minute in range(3):
            ts = f"2026-11-30T10:0{minute}:00Z"
            item = {"building": "hq", "room": "r1", "value": 21.0, "unit": "C", "ts": ts}
            publish(broker, "roomtemp/captures", item)
        bridge.wait(lambda: bridge.get("/readyz")[0] == 503, "unready")
        assert bridge.get("/readyz")[1] == '{"broker":true,"database":false}'
        assert bridge.metric("roomtemp_mqtt_database_up") == 0
        assert bridge.metric("roomtemp_mqtt_retries_total", 'reason="database_down"') >= 1
        locker.rollback()
    bridge.wait(lambda: bridge.get("/readyz")[0] == 200, "ready again")
    bridge.wait(
        lambda: bridge.metric("roomtemp_mqtt_captures_total", 'outcome="inserted"') == 3, "stored"
    )
    assert db.execute("SELECT count(*) FROM capture").fetchone() == (3,)
    assert bridge.process is not None
    assert bridge.process.poll() is None  # never restarted
    # The bad message of the retried batch was answered once, not once per attempt.
    assert len(letters.wait(2, timeout=1)) == 1
    letters.close()
