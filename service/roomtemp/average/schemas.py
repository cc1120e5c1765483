"""Response shapes for averages. Every average carries the count of captures behind it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

_COUNT = "Captures in the window"
_SENSORS = "Sensors with at least one capture in the window (a room pools all its sensors)"


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
        description="Mean of each sensor's own time-weighted mean: each capture holds its value "
        "until that sensor's next capture, a move of the sensor, or the window end"
    )
    sensors: int = Field(description=_SENSORS)


class PointOut(BaseModel):
    t: datetime = Field(description="End of the rolling window (a multiple of step)")
    count: int = Field(description=_COUNT)
    mean: float | None
    min: float | None
    max: float | None
    sensors: int = Field(description=_SENSORS)


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
    sensors: int = Field(description=_SENSORS)


class BuildingAveragesOut(BaseModel):
    building: str
    sensor_type: str
    unit: str
    window_start: datetime
    window_end: datetime
    rooms: list[RoomStatsOut]


class SensorAverageOut(BaseModel):
    sensor: str = Field(description="Registered key, or a default sensor's building/room/type")
    sensor_type: str
    unit: str
    window_start: datetime = Field(description="Exclusive start of the window")
    window_end: datetime = Field(description="Inclusive end of the window")
    count: int = Field(description="The sensor's captures in the window, in any room")
    mean: float | None
    min: float | None
    max: float | None
    time_weighted_mean: float | None = Field(
        description="Each capture holds its value until the sensor's next one or the window end"
    )
    sensors: int = Field(description="1 when the sensor has a capture in the window, else 0")


class SensorSeriesOut(BaseModel):
    sensor: str
    sensor_type: str
    unit: str
    window: str
    step: str
    points: list[PointOut]


# Bucket mode (mode=buckets): every capture of [from, to) in exactly one bucket.
class BucketPointOut(BaseModel):
    t: datetime = Field(description="Bucket start (inclusive), with the zone's offset")
    end: datetime = Field(description="Bucket end (exclusive): the next bucket's start")
    count: int = Field(description="Captures in [t, end)")
    mean: float | None
    min: float | None
    max: float | None
    time_weighted_mean: float | None = Field(
        description="Mean over the sensors with a capture in the bucket of each one's own "
        "time-weighted mean over [t, end); a value carries in from the sensor's previous capture"
    )
    sensors: int = Field(description="Sensors with a capture in the bucket")


class _BucketHead(BaseModel):
    sensor_type: str
    unit: str
    mode: str = Field(description="buckets")
    step: str = Field(description="The bucket size used (the requested one rounded up)")
    requested_step: str
    time_zone: str = Field(description="IANA zone of the bucket edges")
    from_: datetime = Field(alias="from", description="Start of the first bucket")
    to: datetime = Field(description="End of the last bucket")
    resolution: str = Field(
        description="What the answer was computed from: raw (the captures), or 1h / 1d (the "
        "1-hour or 1-day rollups only: raw captures before raw_from were dropped by retention; "
        "every figure is still exact for the captures the rollups hold)"
    )
    raw_from: datetime | None = Field(
        description="Raw captures are kept from this instant (older ones were dropped, their "
        "rollups kept); null when nothing was dropped"
    )

    model_config = {"populate_by_name": True}


class RoomBucketsOut(_BucketHead):
    building: str
    room: str
    points: list[BucketPointOut]


class SensorBucketsOut(_BucketHead):
    sensor: str
    points: list[BucketPointOut]


class RoomBucketPointsOut(BaseModel):
    room: str
    points: list[BucketPointOut]


class BuildingBucketsOut(_BucketHead):
    building: str
    rooms: list[RoomBucketPointsOut]
