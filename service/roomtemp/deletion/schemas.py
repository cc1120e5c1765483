"""Response shapes of the deletes: the audit entry each DELETE writes, pages of them."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field

from roomtemp.deletion.service import ANONYMOUS, AuditEntry


class DeletionOut(BaseModel):
    """One deletion as recorded in the audit (also the answer of the DELETE that made it)."""

    model_config = ConfigDict(populate_by_name=True)
    id: int
    at: datetime = Field(description="When (the server's clock)")
    by: str = Field(description=f"The token's name; {ANONYMOUS!r} when AUTH_REQUIRED is off")
    token: str | None = Field(description="The token's public id; null when auth is off")
    kind: str = Field(description="building, room, sensor, sensor_type or captures")
    building: str | None = Field(description="The key as it was at the deletion")
    building_id: int | None
    room: str | None
    room_id: int | None
    sensor: str | None = Field(description="A registered or default sensor key")
    sensor_id: int | None
    sensor_type: str | None
    sensor_type_id: int | None
    start: datetime | None = Field(
        alias="from", description="captures: the range deleted, from <= ts < to"
    )
    end: datetime | None = Field(alias="to")
    captures_deleted: int = Field(description="Rows of captures deleted (0 on a retry)")

    @classmethod
    def of(cls, e: AuditEntry) -> Self:
        return cls(
            id=e.id,
            at=e.at,
            by=e.by if e.token is not None and e.by is not None else ANONYMOUS,
            token=e.token,
            kind=e.kind,
            building=e.building,
            building_id=e.building_id,
            room=e.room,
            room_id=e.room_id,
            sensor=e.sensor,
            sensor_id=e.sensor_id,
            sensor_type=e.sensor_type,
            sensor_type_id=e.sensor_type_id,
            start=e.start,
            end=e.end,
            captures_deleted=e.captures_deleted,
        )


class DeletionPage(BaseModel):
    items: list[DeletionOut]
    next_cursor: str | None
