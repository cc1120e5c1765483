"""The bridge's subscriptions (MQTT_SUBSCRIPTIONS): topic filters, payload formats, mappings.

A topic filter is an MQTT filter whose single-level segments may be named: `zigbee2mqtt/{device}`
subscribes to `zigbee2mqtt/+` and hands the matched segment to the mapping as `{device}`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

Format = Literal["captures", "sensor", "flat"]
_NAMED = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_TEMPLATE_NAME = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class FieldMapping(BaseModel):
    """How a flat device payload becomes captures of registered sensors.

    Paths are dot-separated keys into the JSON object (`params.temperature:0.tC`). `sensor` is the
    sensor key template: topic segments by name, `{field}` the name under `fields`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sensor: str = "{device}.{field}"
    fields: dict[str, str] = Field(min_length=1, description="field name → path of its value")
    units: dict[str, str] = Field(default_factory=dict, description="field name → unit")
    ts: str | None = Field(default=None, description="path of the timestamp; absent: receive time")
    battery: str | None = Field(default=None, description="path of the battery percentage")
    signal: str | None = Field(default=None, description="path of the signal strength")


class SensorMapping(BaseModel):
    """A sensor-addressed topic: the payload is a number or {"value","ts","unit",...}."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sensor: str = "{sensor}"
    unit: str | None = Field(
        default=None, description="unit of a payload without one (else the type's canonical unit)"
    )


# Zigbee2MQTT publishes each device's state on zigbee2mqtt/<friendly_name> as one flat object.
# Its `last_seen` is optional and may be epoch milliseconds, so the receive time is used.
ZIGBEE2MQTT = FieldMapping(
    sensor="{device}.{field}",
    fields={"temperature": "temperature", "humidity": "humidity"},
    units={"temperature": "C"},
    battery="battery",
    signal="linkquality",
)
# Shelly Gen2/Gen3 (Plus H&T, H&T Gen3) send JSON-RPC notifications on <device-id>/events/rpc:
# NotifyStatus / NotifyFullStatus with params.ts (Unix seconds) and one object per component.
SHELLY = FieldMapping(
    sensor="{device}.{field}",
    fields={"temperature": "params.temperature:0.tC", "humidity": "params.humidity:0.rh"},
    units={"temperature": "C"},
    ts="params.ts",
    battery="params.devicepower:0.battery.percent",
    signal="params.wifi.rssi",
)
PRESETS: dict[str, tuple[str, FieldMapping]] = {
    "zigbee2mqtt": ("zigbee2mqtt/{device}", ZIGBEE2MQTT),
    "shelly": ("{device}/events/rpc", SHELLY),
}


class Subscription(BaseModel):
    """One topic filter and how its messages are read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    topic: str = ""
    format: Format = "flat"
    preset: Literal["zigbee2mqtt", "shelly"] | None = None
    mapping: FieldMapping | SensorMapping | None = None

    @model_validator(mode="after")
    def _complete(self) -> Subscription:
        if self.preset is not None:
            topic, mapping = PRESETS[self.preset]
            object.__setattr__(self, "format", "flat")
            if not self.topic:
                object.__setattr__(self, "topic", topic)
            if self.mapping is None:
                object.__setattr__(self, "mapping", mapping)
        if not self.topic:
            raise ValueError("a subscription needs a topic (or a preset)")
        if self.format == "flat" and not isinstance(self.mapping, FieldMapping):
            raise ValueError("format flat needs a mapping with fields (or a preset)")
        if self.format == "sensor" and self.mapping is None:
            object.__setattr__(self, "mapping", SensorMapping())
        names = self.names()
        template = getattr(self.mapping, "sensor", None)
        unknown = [
            n for n in _TEMPLATE_NAME.findall(template or "") if n not in names and n != "field"
        ]
        if unknown:
            raise ValueError(f"sensor template names {unknown} that the topic does not name")
        return self

    def names(self) -> list[str | None]:
        """The name of each topic level ({name} segments), None for the others."""
        return [
            m.group(1) if (m := _NAMED.match(level)) else None for level in self.topic.split("/")
        ]

    def mqtt_filter(self) -> str:
        """The filter subscribed to: named segments become `+`."""
        return "/".join("+" if _NAMED.match(lv) else lv for lv in self.topic.split("/"))

    def match(self, topic: str) -> dict[str, str] | None:
        """The named segments of `topic` if this subscription's filter matches it, else None."""
        levels = topic.split("/")
        found: dict[str, str] = {}
        for n, (pattern, name) in enumerate(
            zip(self.mqtt_filter().split("/"), self.names(), strict=True)
        ):
            if pattern == "#":
                return found
            if n >= len(levels):
                return None
            if pattern == "+":
                if name is not None:
                    found[name] = levels[n]
            elif pattern != levels[n]:
                return None
        return found if len(levels) == len(self.topic.split("/")) else None


_SUBSCRIPTIONS = TypeAdapter(list[Subscription])


def load_subscriptions(raw: str | None, file: str | None) -> list[Subscription]:
    """MQTT_SUBSCRIPTIONS (JSON) or the file MQTT_SUBSCRIPTIONS_FILE names; raises ValueError."""
    if raw is None and file is not None:
        raw = Path(file).read_text(encoding="utf-8")
    if raw is None or not raw.strip():
        raise ValueError("set MQTT_SUBSCRIPTIONS or MQTT_SUBSCRIPTIONS_FILE (docs/mqtt.md)")
    subscriptions = _SUBSCRIPTIONS.validate_python(orjson.loads(raw))
    if not subscriptions:
        raise ValueError("MQTT_SUBSCRIPTIONS is an empty list")
    return subscriptions
