"""The pure part of the bridge: topic filters, subscriptions from JSON, payload → capture items."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from roomtemp.capture.schemas import CaptureIn, SensorCaptureIn
from roomtemp.capture.service import IngestPolicy
from roomtemp.errors import InvalidInput, MalformedRequest, PayloadTooLarge
from roomtemp.mqtt.mapping import map_message
from roomtemp.mqtt.schemas import FieldMapping, Subscription, load_subscriptions

RECEIVED = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
POLICY = IngestPolicy(auto_register=True, max_batch_size=3, max_future_skew=timedelta(minutes=5))


def sensor_item(**fields: object) -> SensorCaptureIn:
    return SensorCaptureIn.model_validate({"ts": RECEIVED.isoformat(), **fields})


def test_named_segments_subscribe_as_plus_and_are_matched() -> None:
    mapping = FieldMapping(sensor="{building}-{device}.{field}", fields={"t": "t"})
    s = Subscription(topic="site/{building}/{device}/state", format="flat", mapping=mapping)
    assert s.mqtt_filter() == "site/+/+/state"
    assert s.match("site/hq/th1/state") == {"building": "hq", "device": "th1"}
    assert s.match("site/hq/th1") is None
    assert s.match("site/hq/th1/state/extra") is None
    assert Subscription(topic="a/#", format="captures").match("a/b/c") == {}


def test_presets_and_configuration_errors() -> None:
    z2m, shelly = load_subscriptions('[{"preset": "zigbee2mqtt"}, {"preset": "shelly"}]', None)
    assert (z2m.mqtt_filter(), shelly.mqtt_filter()) == ("zigbee2mqtt/+", "+/events/rpc")
    with pytest.raises(ValueError, match="MQTT_SUBSCRIPTIONS"):
        load_subscriptions(None, None)
    with pytest.raises(ValidationError, match="does not name"):
        load_subscriptions(
            '[{"topic": "x/{a}", "format": "sensor", "mapping": {"sensor": "{b}"}}]', None
        )
    with pytest.raises(ValidationError, match="needs a mapping"):
        load_subscriptions('[{"topic": "x/+", "format": "flat"}]', None)


def test_zigbee2mqtt_state_becomes_captures_with_device_status() -> None:
    (z2m,) = load_subscriptions('[{"preset": "zigbee2mqtt"}]', None)
    payload = b'{"temperature": 21.3, "humidity": 45, "battery": 97, "linkquality": 120}'
    mapped = map_message(z2m, {"device": "kitchen"}, payload, RECEIVED, POLICY)
    assert mapped.problems == []
    assert mapped.items == [
        sensor_item(sensor="kitchen.temperature", value=21.3, unit="C", battery=97, signal=120),
        sensor_item(sensor="kitchen.humidity", value=45.0, battery=97.0, signal=120.0),
    ]
    # A button press has no mapped field: nothing to store, nothing wrong.
    nothing = map_message(z2m, {"device": "b"}, b'{"action": "single"}', RECEIVED, POLICY)
    assert (nothing.items, nothing.problems) == ([], [])


def test_shelly_notify_status_uses_its_timestamp() -> None:
    (shelly,) = load_subscriptions('[{"preset": "shelly"}]', None)
    payload = b'{"method":"NotifyStatus","params":{"ts":1796032800.5,"temperature:0":{"tC":19.8}}}'
    mapped = map_message(shelly, {"device": "shellyplusht-1"}, payload, RECEIVED, POLICY)
    (item,) = mapped.items
    assert isinstance(item, SensorCaptureIn)
    assert (item.sensor, item.value, item.unit) == ("shellyplusht-1.temperature", 19.8, "C")
    assert item.ts == datetime(2026, 11, 30, 10, 0, 0, 500000, tzinfo=UTC)


def test_sensor_topic_number_or_object_and_captures_body() -> None:
    sub = Subscription(topic="sensors/{sensor}/t", format="sensor")
    (bare,) = map_message(sub, {"sensor": "th-1"}, b"21.5", RECEIVED, POLICY).items
    assert bare == sensor_item(sensor="th-1", value=21.5)
    with pytest.raises(InvalidInput):
        map_message(sub, {"sensor": "th-1"}, b'"warm"', RECEIVED, POLICY)
    with pytest.raises(MalformedRequest):
        map_message(sub, {"sensor": "th-1"}, b"{", RECEIVED, POLICY)
    body = Subscription(topic="c", format="captures")
    raw = b'[{"building":"hq","room":"r1","value":1,"ts":"2026-11-30T10:00:00Z"},{"value":"x"}]'
    mapped = map_message(body, {}, raw, RECEIVED, POLICY)
    assert [type(i) for i in mapped.items] == [CaptureIn]
    assert mapped.positions == [0]
    assert {p.index for p in mapped.problems} == {1}
    with pytest.raises(PayloadTooLarge):  # the API's MAX_BATCH_SIZE holds per message
        map_message(body, {}, b"[1,2,3,4]", RECEIVED, POLICY)
