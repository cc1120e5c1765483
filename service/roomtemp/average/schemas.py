"""Response shapes for averages."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Stats(BaseModel):
    count: int = Field(description="Captures in the window")
    mean: float | None
    min: float | None
    max: float | None


class RoomAverageOut(Stats):
    building: str
    room: str
    sensor_type: str
    unit: str
    window_start: datetime = Field(description="Exclusive start of the window")
    window_end: datetime = Field(description="Inclusive end of the window")
    time_weighted_mean: float | None = Field(
        description="Each capture holds its value until the next one or the window end"
    )


class PointOut(Stats):
    t: datetime = Field(description="End of the rolling window (a multiple of step)")


class RoomSeriesOut(BaseModel):
    building: str
    room: str
    sensor_type: str
    unit: str
    window: str
    step: str
    points: list[PointOut]


class RoomStatsOut(Stats):
    room: str
    last_ts: datetime | None = Field(description="Newest capture at or before the window end")


class BuildingAveragesOut(BaseModel):
    building: str
    sensor_type: str
    unit: str
    window_start: datetime
    window_end: datetime
    rooms: list[RoomStatsOut]
