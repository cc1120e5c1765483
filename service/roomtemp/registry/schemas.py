"""Request and response shapes of the registry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict

from roomtemp.registry.service import BuildingRow, RoomRow, SensorTypeRow

Name = Annotated[str, Field(min_length=1, max_length=200)]
Number = Annotated[float, Strict(), AllowInfNan(False)]


class _NameIn(BaseModel):
    """The body of PUT for a building or a room: only its display name."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = Field(default=None, description="Display name; defaults to the key")


class BuildingIn(_NameIn):
    pass


class BuildingOut(BaseModel):
    key: str
    name: str
    created_at: datetime
    room_count: int

    @classmethod
    def of(cls, row: BuildingRow) -> BuildingOut:
        return cls(key=row.key, name=row.name, created_at=row.created_at, room_count=row.room_count)


class BuildingPage(BaseModel):
    items: list[BuildingOut]
    next_cursor: str | None


class RoomIn(_NameIn):
    pass


class RoomOut(BaseModel):
    building: str
    key: str
    name: str
    created_at: datetime

    @classmethod
    def of(cls, row: RoomRow) -> RoomOut:
        return cls(building=row.building_key, key=row.key, name=row.name, created_at=row.created_at)


class RoomPage(BaseModel):
    items: list[RoomOut]
    next_cursor: str | None


class SensorTypeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit: Annotated[str, Field(min_length=1, max_length=32)] = Field(
        description="Canonical unit, values are stored in it: kelvin, celsius, percent, ppm…"
    )
    min_value: Number = Field(description="Lowest plausible value, in the canonical unit")
    max_value: Number = Field(description="Highest plausible value, in the canonical unit")
    description: Annotated[str, Field(max_length=500)] = ""


class SensorTypeOut(BaseModel):
    key: str
    unit: str
    min_value: float
    max_value: float
    description: str
    created_at: datetime

    @classmethod
    def of(cls, row: SensorTypeRow) -> SensorTypeOut:
        return cls(
            key=row.key,
            unit=row.unit,
            min_value=row.min_value,
            max_value=row.max_value,
            description=row.description,
            created_at=row.created_at,
        )


class SensorTypePage(BaseModel):
    items: list[SensorTypeOut]
    next_cursor: str | None
