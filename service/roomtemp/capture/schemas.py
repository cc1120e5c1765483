"""Wire format of captures: the JSON a sensor posts, and what ingest answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

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


# A registered sensor's key (KEY_PATTERN), or a default sensor's computed key
# "{building}/{room}/{sensor_type}"; which of them exists is for ingest to say (unknown_sensor).
SensorKey = Annotated[str, Field(min_length=1, max_length=3 * 64 + 2, pattern=r"^[^\s]+$")]
_ROOM_FORM = ("building", "room", "sensor_type")


class SensorCaptureIn(BaseModel):
    """One reading of a registered sensor; the room is where the sensor was at `ts`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "sensor": "zb-00158d0001a2b3c4",
                    "value": 21.4,
                    "unit": "C",
                    "ts": "2026-11-22T10:00:00+01:00",
                    "battery": 97,
                }
            ]
        },
    )

    sensor: SensorKey = Field(
        description="The sensor's key, or a room's default sensor as building/room/sensor_type"
    )
    value: FiniteNumber
    unit: Annotated[str, Field(min_length=1, max_length=32)] | None = Field(
        default=None, description="Defaults to the sensor type's canonical unit"
    )
    ts: Timestamp = Field(description=TIMESTAMP_DESCRIPTION)
    battery: Annotated[float, Strict(), AllowInfNan(False), Field(ge=0, le=100)] | None = Field(
        default=None, description="Battery level in percent, if the device reports it"
    )
    signal: FiniteNumber | None = Field(
        default=None, description="Signal strength (dBm or LQI, as the device reports it)"
    )

    @model_validator(mode="before")
    @classmethod
    def _one_form(cls, data: Any) -> Any:
        # Without this the mix would read "Extra inputs are not permitted"; say what to do.
        if isinstance(data, dict):
            mixed = [f for f in _ROOM_FORM if f in data]
            if mixed:
                raise ValidationError.from_exception_data(
                    cls.__name__,
                    [
                        InitErrorDetails(
                            type=PydanticCustomError(
                                "mixed_forms",
                                "an item names either a sensor or a building and room "
                                "(with sensor_type), not both",
                            ),
                            loc=(f,),
                            input=data[f],
                        )
                        for f in mixed
                    ],
                )
        return data


CaptureItem = CaptureIn | SensorCaptureIn


class _CaptureParser:
    """Validates one item as the form it uses: the sensor form when it names a sensor, else the
    building/room form (so that form's errors stay exactly what they were)."""

    _room = TypeAdapter(CaptureIn)
    _sensor = TypeAdapter(SensorCaptureIn)
    _rooms = TypeAdapter(list[CaptureIn])
    _sensors = TypeAdapter(list[SensorCaptureIn])

    def validate_python(self, data: Any) -> CaptureItem:
        if isinstance(data, dict) and "sensor" in data:
            return self._sensor.validate_python(data)
        return self._room.validate_python(data)

    def validate_many(self, data: list[Any]) -> list[CaptureItem]:
        """validate_python of each item, in one call into pydantic-core when the items are all
        of one form (a third of the per-item calls' time for 10,000: the Python wrapper around
        each call cost more than the validation). Raises ValidationError if any item is invalid
        (its index first in the error's loc); the caller then validates item by item, which
        names each item's problems exactly as before."""
        sensor_form = [isinstance(d, dict) and "sensor" in d for d in data]
        if all(sensor_form):
            return [*self._sensors.validate_python(data)]
        if not any(sensor_form):
            return [*self._rooms.validate_python(data)]
        return [self.validate_python(d) for d in data]

    def json_schema(self) -> dict[str, Any]:
        # Self-contained: the body schema is pasted into the OpenAPI document, where the union's
        # "#/$defs/…" references would point at nothing (ReDoc then renders no operation at all).
        return {"oneOf": [self._room.json_schema(), self._sensor.json_schema()]}


class IngestResult(BaseModel):
    """What happened to the posted captures; inserted + duplicates + updated = items posted."""

    inserted: int = Field(description="New captures stored")
    duplicates: int = Field(description="Identical re-sends, ignored")
    updated: int = Field(description="Existing keys given a new value (last write wins)")


one_capture = _CaptureParser()
