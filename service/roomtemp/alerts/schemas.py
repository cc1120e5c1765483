"""Request and response shapes of alert rules and receivers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict, model_validator

from roomtemp.keys import Key

Number = Annotated[float, Strict(), AllowInfNan(False)]
Seconds = Annotated[int, Field(ge=0, le=30 * 86400)]
Kind = Literal["above", "below", "silent"]
Severity = Literal["info", "warning", "critical"]


class Schedule(BaseModel):
    """Working hours in the building's time zone: ISO weekdays, local [from, to)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    days: list[int] = Field(
        default=[1, 2, 3, 4, 5, 6, 7], description="ISO weekdays, 1 = Monday … 7 = Sunday"
    )
    from_: str = Field(default="00:00", alias="from", description="Local start, HH:MM")
    to: str = Field(default="24:00", description="Local end (exclusive), HH:MM or 24:00")


class RuleIn(BaseModel):
    """The body of PUT /v1/alert-rules/{name}."""

    model_config = ConfigDict(extra="forbid")
    building: Key = Field(description="The building whose rooms the rule watches")
    room: Key | None = Field(default=None, description="One room; null: every room")
    sensor_type: Key = Field(default="temperature")
    kind: Kind = Field(
        description="above/below: the room's rolling mean above/below `threshold`; silent: no "
        "capture of the sensor type for `silent_seconds`"
    )
    threshold: Number | None = Field(default=None, description="In `unit` (above/below)")
    unit: str | None = Field(
        default=None, description="Unit of the thresholds; default: the sensor type's unit"
    )
    clear_threshold: Number | None = Field(
        default=None,
        description="Hysteresis: an above alert clears at mean <= clear_threshold, a below one "
        "at >= it; null: the threshold",
    )
    window_seconds: Annotated[int, Field(ge=1, le=7 * 86400)] = Field(
        default=900, description="The rolling window (t - window, t] of the mean"
    )
    for_seconds: Seconds = Field(default=0, description="Pending this long before firing")
    clear_after_seconds: Seconds = Field(
        default=0, description="Clear this long before a firing alert resolves"
    )
    silent_seconds: Annotated[int, Field(ge=1, le=30 * 86400)] | None = None
    schedule: Schedule | None = None
    severity: Severity = "warning"
    enabled: bool = True
    receivers: list[Key] = Field(default=[], description="Receiver names to notify")

    @model_validator(mode="after")
    def _kind_fields(self) -> Self:
        if self.kind == "silent":
            if self.silent_seconds is None:
                raise ValueError("a silent rule needs silent_seconds")
            if self.threshold is not None or self.clear_threshold is not None:
                raise ValueError("a silent rule takes no threshold or clear_threshold")
        else:
            if self.threshold is None:
                raise ValueError(f"an {self.kind} rule needs a threshold")
            if self.silent_seconds is not None:
                raise ValueError(f"an {self.kind} rule takes no silent_seconds")
            if self.clear_threshold is not None and (
                self.clear_threshold > self.threshold
                if self.kind == "above"
                else self.clear_threshold < self.threshold
            ):
                side = "at or below" if self.kind == "above" else "at or above"
                raise ValueError(f"clear_threshold must be {side} the threshold")
        if len(set(self.receivers)) != len(self.receivers):
            raise ValueError("receivers are named twice")
        return self


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, row: object) -> Self:
        return cls.model_validate(row)


class RuleOut(_Out):
    name: str
    building: str
    room: str | None
    sensor_type: str
    kind: Kind
    threshold: float | None = Field(description="In `unit`")
    unit: str | None
    clear_threshold: float | None = Field(description="In `unit`")
    window_seconds: int
    for_seconds: int
    clear_after_seconds: int
    silent_seconds: int | None
    schedule: dict[str, Any] | None
    severity: Severity
    enabled: bool
    receivers: list[str]
    created_at: datetime
    updated_at: datetime


class ReceiverIn(BaseModel):
    """The body of PUT /v1/alert-receivers/{name}. The secret is write-only."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(
        min_length=1, max_length=2000, pattern=r"^https?://", description="Webhook URL"
    )
    format: Literal["alertmanager", "json"] = Field(
        default="alertmanager",
        description="alertmanager: the Alertmanager webhook payload (version 4); json: roomtemp's",
    )
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=512,
        description="HMAC-SHA256 key of X-Roomtemp-Signature; never returned. A PUT replaces "
        "the receiver: without it, deliveries are no longer signed",
    )


class ReceiverOut(_Out):
    name: str
    url: str
    format: str
    has_secret: bool = Field(description="Whether deliveries are signed (the secret never shows)")
    created_at: datetime
    updated_at: datetime


Item = TypeVar("Item", bound=_Out)


class _Page(BaseModel, Generic[Item]):
    items: list[Item]
    next_cursor: str | None

    @classmethod
    def of(cls, rows: Sequence[object], next_cursor: str | None) -> Self:
        return cls.model_validate({"items": rows, "next_cursor": next_cursor}, from_attributes=True)


class RulePage(_Page[RuleOut]):
    pass


class ReceiverPage(_Page[ReceiverOut]):
    pass
