"""A message (topic + payload) → capture items, or the reason it is refused. Pure: no I/O.

Items are the API's own input models (CaptureIn / SensorCaptureIn), validated by the same
parser as POST /v1/captures, so the domain rules that follow are the API's too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from roomtemp.capture.body import parse_body
from roomtemp.capture.schemas import CaptureItem, one_capture
from roomtemp.capture.service import IngestPolicy
from roomtemp.errors import (
    DomainError,
    ErrorDetail,
    InvalidInput,
    MalformedRequest,
    details_from_pydantic,
)
from roomtemp.mqtt.schemas import FieldMapping, SensorMapping, Subscription


@dataclass
class Mapped:
    """The captures a message carries; `problems` name the items that could not be read
    (indexed like the message's items); empty `items` and no problems: nothing to store."""

    items: list[CaptureItem] = field(default_factory=list)
    problems: list[ErrorDetail] = field(default_factory=list)
    positions: list[int | None] = field(default_factory=list)  # each item's index in the message


def _json(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(
            "the payload is not valid JSON",
            [ErrorDetail(str(exc), field="payload", code="json_invalid")],
        ) from None


def _stamp(raw: dict[str, Any], received: datetime) -> dict[str, Any]:
    # No timestamp in the payload: the bridge's receive time (docs/mqtt.md says so).
    if raw.get("ts") is None:
        raw["ts"] = received.isoformat()
    return raw


def _parse(raw: list[dict[str, Any]], single: bool) -> Mapped:
    mapped = Mapped()
    for n, item in enumerate(raw):
        try:
            mapped.items.append(one_capture.validate_python(item))
            mapped.positions.append(None if single else n)
        except ValidationError as exc:
            index = None if single else n
            mapped.problems.extend(
                ErrorDetail(d.message, field=d.field, index=index, code=d.code)
                for d in details_from_pydantic(exc.errors())
            )
    return mapped


def _template(template: str, names: dict[str, str]) -> str:
    out = template
    for name, value in names.items():
        out = out.replace("{" + name + "}", value)
    return out


def _at(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _sensor(mapping: SensorMapping, names: dict[str, str], data: Any, received: datetime) -> Mapped:
    key = _template(mapping.sensor, names)
    if isinstance(data, bool) or not isinstance(data, int | float | dict):
        raise InvalidInput(
            "the payload is neither a number nor an object with a value",
            [ErrorDetail('send 21.5 or {"value": 21.5}', field="payload", code="bad_payload")],
        )
    raw: dict[str, Any] = dict(data) if isinstance(data, dict) else {"value": data}
    raw["sensor"] = key
    if mapping.unit is not None:
        raw.setdefault("unit", mapping.unit)
    return _parse([_stamp(raw, received)], single=True)


def _flat(mapping: FieldMapping, names: dict[str, str], data: Any, received: datetime) -> Mapped:
    if not isinstance(data, dict):
        raise InvalidInput(
            "the payload is not a JSON object",
            [ErrorDetail("a flat device payload is one JSON object", field="payload")],
        )
    extras: dict[str, Any] = {}
    for name, path in (("battery", mapping.battery), ("signal", mapping.signal)):
        value = None if path is None else _at(data, path)
        # Device metadata is a bonus: an odd value is left out rather than losing the reading.
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            extras[name] = value
    if "battery" in extras and not 0 <= extras["battery"] <= 100:
        del extras["battery"]
    ts = None if mapping.ts is None else _at(data, mapping.ts)
    raw = []
    for name, path in mapping.fields.items():
        value = _at(data, path)
        if value is None:
            continue  # a partial update (Shelly NotifyStatus, a Zigbee button press)
        item: dict[str, Any] = {
            "sensor": _template(mapping.sensor, {**names, "field": name}),
            "value": value,
            "ts": ts,
            **extras,
        }
        if name in mapping.units:
            item["unit"] = mapping.units[name]
        raw.append(_stamp(item, received))
    return _parse(raw, single=False)


def map_message(
    subscription: Subscription,
    names: dict[str, str],
    payload: bytes,
    received: datetime,
    policy: IngestPolicy,
) -> Mapped:
    """The captures of one message on `subscription` (`names`: its named topic segments).

    Raises DomainError (the API's error classes, so the dead letter carries the API's codes)
    when the message as a whole cannot be read.
    """
    if subscription.format == "captures":
        items, problems, single = parse_body(payload, policy)
        return Mapped(
            [i for i in items if i is not None],
            list(problems),
            [None if single else n for n, i in enumerate(items) if i is not None],
        )
    data = _json(payload)
    mapping = subscription.mapping
    if isinstance(mapping, SensorMapping):
        return _sensor(mapping, names, data, received)
    assert isinstance(mapping, FieldMapping)
    return _flat(mapping, names, data, received)


def error_envelope(exc: DomainError) -> dict[str, Any]:
    """The API's error body for a refused message."""
    return {
        "error": {
            "code": exc.code,
            "message": exc.message,
            "details": [d.as_dict() for d in exc.details],
        }
    }
