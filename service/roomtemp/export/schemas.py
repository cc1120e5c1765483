"""Wire format of raw-capture pages."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CaptureOut(BaseModel):
    ts: datetime
    value: float
    sensor: str = Field(
        description="The sensor's key: registered key, or building/room/sensor_type for a "
        "room's default sensor"
    )


class CapturesPage(BaseModel):
    """Captures of one room (all its sensors of the type) or of one sensor (in every room it has
    been in), in time order; follow `next_cursor` until it is null."""

    building: str = Field(description="The room's building (for a sensor: where it is now)")
    room: str
    sensor_type: str
    sensor: str | None = Field(None, description="The sensor, when one sensor was asked for")
    unit: str
    captures: list[CaptureOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")
