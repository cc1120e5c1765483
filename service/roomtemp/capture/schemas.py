"""Wire format of captures: the JSON a sensor posts, and what ingest answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    WithJsonSchema,
)

from roomtemp.keys import Key
from roomtemp.timefmt import TIMESTAMP_DESCRIPTION, TIMESTAMP_JSON_SCHEMA, parse_timestamp

# A string or a number on the wire (the schema says so), an aware UTC datetime in Python.
Timestamp = Annotated[
    datetime, BeforeValidator(parse_timestamp), WithJsonSchema(TIMESTAMP_JSON_SCHEMA)
]
FiniteNumber = Annotated[float, Strict(), AllowInfNan(False)]


class CaptureIn(BaseModel):
    """One reading of one sensor in one room at one instant."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "building": "hq",
                    "room": "3.14",
                    "sensor_type": "temperature",
                    "value": 21.5,
                    "unit": "celsius",
                    "ts": "2026-11-22T10:00:00+01:00",
                }
            ]
        },
    )

    building: Key
    room: Key
    sensor_type: Key = "temperature"
    value: FiniteNumber
    unit: Annotated[str, Field(min_length=1, max_length=32)] | None = Field(
        default=None, description="Defaults to the sensor type's canonical unit"
    )
    ts: Timestamp = Field(description=TIMESTAMP_DESCRIPTION)


class IngestResult(BaseModel):
    """What happened to the posted captures; inserted + duplicates + updated = items posted."""

    inserted: int = Field(description="New captures stored")
    duplicates: int = Field(description="Identical re-sends, ignored")
    updated: int = Field(description="Existing keys given a new value (last write wins)")


one_capture = TypeAdapter(CaptureIn)
capture_batch = TypeAdapter(list[CaptureIn])
