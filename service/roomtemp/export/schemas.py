"""Wire format of raw-capture pages."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CaptureOut(BaseModel):
    ts: datetime
    value: float


class CapturesPage(BaseModel):
    """Captures of one room in time order; follow `next_cursor` until it is null."""

    building: str
    room: str
    sensor_type: str
    unit: str
    captures: list[CaptureOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")
