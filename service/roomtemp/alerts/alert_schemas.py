"""Request and response shapes of seeing alerts: the list, one alert, ack and silence."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

State = Literal["pending", "firing", "resolved"]
Severity = Literal["info", "warning", "critical"]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AlertOut(_Out):
    id: int
    rule: str
    building: str
    room: str
    sensor_type: str
    kind: Literal["above", "below", "silent"]
    severity: Severity
    state: State
    started_at: datetime = Field(description="The evaluation instant the condition first held")
    fired_at: datetime | None
    resolved_at: datetime | None
    value: float | None = Field(
        description="The last evaluated rolling mean, in `unit` (null for silent rules)"
    )
    threshold: float | None = Field(description="The rule's threshold, in `unit`")
    unit: str | None
    acked_at: datetime | None
    acked_by: str | None = Field(description="The name of the token that acknowledged it")
    silenced_until: datetime | None = Field(
        description="Until then its transitions are recorded but not delivered"
    )
    silenced: bool = Field(description="Whether silenced_until is in the future")
    updated_at: datetime


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None


class TransitionOut(_Out):
    id: int
    from_state: State | None
    to_state: State
    at: datetime
    value: float | None = Field(description="In the alert's `unit`")
    window_start: datetime | None
    window_end: datetime | None
    reason: str


class AttemptOut(_Out):
    attempted_at: datetime
    status: int | None = Field(description="The receiver's HTTP status; null: no answer")
    error: str | None
    duration_ms: float


class DeliveryOut(_Out):
    transition_id: int
    receiver: str
    idempotency_key: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    given_up_at: datetime | None
    last_error: str | None
    log: list[AttemptOut] = Field(description="Every attempt, oldest first")


class AlertDetail(AlertOut):
    transitions: list[TransitionOut] = Field(description="Oldest first")
    deliveries: list[DeliveryOut] = Field(description="One per delivered transition and receiver")


class SilenceIn(BaseModel):
    """Silence until an instant, or for a duration from now (exactly one of the two)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    until: AwareDatetime | None = Field(default=None, description="With a UTC offset")
    for_: str | None = Field(
        default=None,
        alias="for",
        max_length=16,
        description="A duration: 90s, 15m, 2h, 1d",
        examples=["2h"],
    )

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.until is None) == (self.for_ is None):
            raise ValueError("give exactly one of 'until' and 'for'")
        return self
