"""Wire format of period reports."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class _RoomFields(BaseModel):
    count: int = Field(description="Captures in the period")
    mean: float | None = Field(description="Mean of the captures")
    time_weighted_mean: float | None = Field(
        description="Each value held until the next capture; the last value before the period "
        "holds until the first capture in it"
    )
    min: float | None
    min_ts: datetime | None = Field(description="First time the minimum was captured")
    max: float | None
    max_ts: datetime | None = Field(description="First time the maximum was captured")
    share_below: float | None = Field(description="Share of the held time below comfort_low")
    share_above: float | None = Field(description="Share of the held time above comfort_high")
    longest_gap_seconds: float = Field(
        description="Longest stretch of the period without a capture (edges included)"
    )
    longest_gap_start: datetime
    sensors: int = Field(description="Sensors with at least one capture in the period")


class RoomReportOut(_RoomFields):
    room: str


class BuildingReportOut(BaseModel):
    building: str
    sensor_type: str
    unit: str
    from_: datetime = Field(alias="from", description="Inclusive")
    to: datetime = Field(description="Exclusive")
    comfort_low: float | None
    comfort_high: float | None
    resolution: str = Field(
        description="What the report was computed from: raw (the captures), or 1h / 1d (the "
        "1-hour or 1-day rollups only: raw captures before raw_from were dropped by retention; "
        "every figure is still exact for the captures the rollups hold)"
    )
    raw_from: datetime | None = Field(
        description="Raw captures are kept from this instant; null when nothing was dropped"
    )
    rooms: list[RoomReportOut]

    model_config = {"populate_by_name": True}


class PeriodReportOut(_RoomFields):
    start: datetime = Field(description="Start of the local period (inclusive), its offset")
    end: datetime = Field(description="End of the local period (exclusive)")


class GroupedRoomReportOut(RoomReportOut):
    periods: list[PeriodReportOut]


class GroupedReportOut(BuildingReportOut):
    group_by: str
    time_zone: str = Field(description="IANA zone of the periods")
    rooms: list[GroupedRoomReportOut]  # type: ignore[assignment]


CSV_COLUMNS = (
    "room",
    "count",
    "mean",
    "time_weighted_mean",
    "min",
    "min_ts",
    "max",
    "max_ts",
    "share_below",
    "share_above",
    "longest_gap_seconds",
    "longest_gap_start",
    "sensors",
)
