"""Builders of test payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def capture(
    value: Any = 21.5,
    *,
    building: str = "hq",
    room: str = "3.14",
    ts: datetime | str | float = "2026-11-22T11:55:00Z",
    unit: str | None = "celsius",
    sensor_type: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"building": building, "room": room, "value": value}
    body["ts"] = ts.astimezone(UTC).isoformat() if isinstance(ts, datetime) else ts
    if unit is not None:
        body["unit"] = unit
    if sensor_type is not None:
        body["sensor_type"] = sensor_type
    body.update(extra)
    return body
