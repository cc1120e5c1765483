"""Request and response shapes of the registry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Generic, Self, TypeVar

from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict

from roomtemp.keys import Key

Name = Annotated[str, Field(min_length=1, max_length=200)]
Number = Annotated[float, Strict(), AllowInfNan(False)]


class _NameIn(BaseModel):
    """The body of PUT for a building or a room: only its display name."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = Field(default=None, description="Display name; defaults to the key")


class _Out(BaseModel):
    """A response read from a registry row (queries' dataclass): its fields by attribute name."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, row: object) -> Self:
        return cls.model_validate(row)


Item = TypeVar("Item", bound=_Out)


class _Page(BaseModel, Generic[Item]):
    """One page of a key-ordered list; subclassed per item so the OpenAPI names stay."""

    items: list[Item]
    next_cursor: str | None

    @classmethod
    def of(cls, rows: Sequence[object], next_cursor: str | None) -> Self:
        return cls.model_validate({"items": rows, "next_cursor": next_cursor}, from_attributes=True)


class BuildingIn(_NameIn):
    time_zone: str | None = Field(
        default=None,
        description="IANA time zone (e.g. Europe/Zurich) of the building's local days, weeks "
        "and months; null or absent: the server's DEFAULT_TIME_ZONE",
        examples=["Europe/Zurich"],
    )


class KeyPatch(BaseModel):
    """PATCH of a building or room: a new key (what clients send). The old key is refused
    afterwards: 404 naming the new one, and ingest never auto-registers it again."""

    model_config = ConfigDict(extra="forbid")
    key: Key = Field(description="The new key")


class BuildingOut(_Out):
    key: str
    name: str
    created_at: datetime
    room_count: int
    time_zone: str = Field(
        description="Effective IANA time zone: the building's own, else DEFAULT_TIME_ZONE"
    )


class BuildingPage(_Page[BuildingOut]):
    pass


class RoomIn(_NameIn):
    pass


class RoomOut(_Out):
    building: str
    key: str
    name: str
    created_at: datetime


class RoomPage(_Page[RoomOut]):
    pass


class SensorTypeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit: Annotated[str, Field(min_length=1, max_length=32)] = Field(
        description="Canonical unit, values are stored in it: kelvin, celsius, percent, ppm…"
    )
    min_value: Number = Field(description="Lowest plausible value, in the canonical unit")
    max_value: Number = Field(description="Highest plausible value, in the canonical unit")
    description: Annotated[str, Field(max_length=500)] = ""


class SensorTypeOut(_Out):
    key: str
    unit: str
    min_value: float
    max_value: float
    description: str
    created_at: datetime


class SensorTypePage(_Page[SensorTypeOut]):
    pass
