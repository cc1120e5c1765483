"""Response shapes for averages. Every average carries the count of captures behind it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

_COUNT = "Captures in the window"


class RoomAverageOut(BaseModel):
    building: str
    room: str
    sensor_type: str
    unit: str
    window_start: datetime = Field(description="Exclusive start of the window")
    window_end: datetime = Field(description="Inclusive end of the window")
    count: int = Field(description=_COUNT)
    mean: float | None
    min: float | None
    max: float | None
    time_weighted_mean: float | None = Field(
        description="Each capture holds its value until the next one or the window end"
    )


class PointOut(BaseModel):
    t: datetime = Field(description="End of the rolling window (a multiple of step)")
    count: int = Field(description=_COUNT)
    mean: float | None
    min: float | None
    max: float | None


class RoomSeriesOut(BaseModel):
    building: str
    room: str
    sensor_type: str
    unit: str
    window: str
    step: str
    points: list[PointOut]


class RoomStatsOut(BaseModel):
    room: str
    count: int = Field(description=_COUNT)
    mean: float | None
    min: float | None
    max: float | None
    last_ts: datetime | None = Field(description="Newest capture at or before the window end")


class BuildingAveragesOut(BaseModel):
    building: str
    sensor_type: str
    unit: str
    window_start: datetime
    window_end: datetime
    rooms: list[RoomStatsOut]
