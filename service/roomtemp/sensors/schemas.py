"""Request and response shapes of the sensor registry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from roomtemp.keys import Key
from roomtemp.sensors.service import AssignmentRow, SensorRow, UnknownRow

Name = Annotated[str, Field(max_length=200)]


class SensorIn(BaseModel):
    """A sensor to register: its device id, what it measures, where it is."""

    model_config = ConfigDict(extra="forbid")
    key: Key = Field(description="The device id as the device reports it (no '/')")
    sensor_type: Key = Field(description="A registered sensor type")
    building: Key
    room: Key = Field(description="Registered on first use when AUTO_REGISTER is on")
    name: Name = Field(default="", description="Display name")


class SensorPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    building: Key
    room: Key
    start: AwareDatetime | None = Field(
        default=None,
        alias="from",
        description="When the sensor arrived there; default now. Captures at or after it are "
        "attributed to the new room. Must be after the sensor's latest assignment began.",
    )


class SensorOut(BaseModel):
    key: str = Field(description='Device id; a default sensor\'s is "{building}/{room}/{type}"')
    default: bool = Field(description="The room's default sensor (building/room captures)")
    sensor_type: str
    building: str = Field(description="Where the sensor is now")
    room: str
    name: str
    created_at: datetime
    retired_at: datetime | None = Field(description="Retired: kept as history, captures refused")
    last_capture_at: datetime | None = Field(description="Its newest capture, in any room")
    battery: float | None = Field(description="Battery level (%) it last reported")
    signal: float | None = Field(description="Signal strength it last reported (dBm or LQI)")
    status_at: datetime | None = Field(description="When battery/signal were reported")

    @classmethod
    def of(cls, row: SensorRow) -> Self:
        return cls(
            key=row.key,
            default=row.default,
            sensor_type=row.sensor_type,
            building=row.building,
            room=row.room,
            name=row.name,
            created_at=row.created_at,
            retired_at=row.retired_at,
            last_capture_at=row.last_capture_at,
            battery=row.battery,
            signal=row.signal,
            status_at=row.status_at,
        )


class SensorPage(BaseModel):
    items: list[SensorOut]
    next_cursor: str | None

    @classmethod
    def of(cls, rows: Sequence[SensorRow], next_cursor: str | None) -> Self:
        return cls(items=[SensorOut.of(r) for r in rows], next_cursor=next_cursor)


class SensorList(BaseModel):
    """The sensors a POST registered, in the order given."""

    items: list[SensorOut]


class DeletedOut(BaseModel):
    key: str
    outcome: str = Field(description="deleted, or retired (?captures=keep)")
    captures_deleted: int


class MovedOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    key: str
    building: str
    room: str
    start: datetime = Field(serialization_alias="from")
    captures_moved: int = Field(description="Captures at or after `from` re-attributed")


class AssignmentOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    building: str
    room: str
    start: datetime | None = Field(serialization_alias="from", description="null: from the start")
    end: datetime | None = Field(serialization_alias="to", description="null: still there")

    @classmethod
    def of(cls, row: AssignmentRow) -> Self:
        return cls(building=row.building, room=row.room, start=row.start, end=row.end)


class AssignmentList(BaseModel):
    items: list[AssignmentOut]


class UnknownOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    key: str
    first_seen: datetime
    last_seen: datetime
    refused: int = Field(description="Captures refused with unknown_sensor")


class UnknownPage(BaseModel):
    items: list[UnknownOut]
    next_cursor: str | None

    @classmethod
    def of(cls, rows: Sequence[UnknownRow], next_cursor: str | None) -> Self:
        return cls(items=[UnknownOut.model_validate(r) for r in rows], next_cursor=next_cursor)
