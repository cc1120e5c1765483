"""HTTP endpoint for posting captures."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from roomtemp.api import API_PREFIX
from roomtemp.api.auth import AuthFirstRoute, Reach
from roomtemp.api.deps import Now, ReadyState, transaction
from roomtemp.api.errors import details_from_pydantic
from roomtemp.api.responses import json_response
from roomtemp.capture import formats, service
from roomtemp.capture.body import parse_body
from roomtemp.capture.schemas import CaptureIn, CaptureItem, IngestResult, one_capture
from roomtemp.errors import ErrorDetail, InvalidInput, MalformedRequest, UnknownSensors

router = APIRouter(prefix=API_PREFIX, tags=["captures"], route_class=AuthFirstRoute)

_capture_schema: dict[str, Any] = one_capture.json_schema()


def parse_records(
    body: bytes, media_type: str, policy: service.IngestPolicy
) -> tuple[list[CaptureItem | None], list[ErrorDetail]]:
    """A CSV or NDJSON upload → (items, problems), indexed by data row like a JSON array."""
    try:
        if media_type in formats.CSV_TYPES:
            records = list(formats.iter_csv(body.decode("utf-8-sig").splitlines()))
        else:
            records = list(formats.iter_ndjson(body.splitlines()))
    except UnicodeDecodeError as exc:
        raise MalformedRequest(
            "the body cannot be read", [ErrorDetail(str(exc), field="body", code="bad_format")]
        ) from None
    except formats.FormatError as exc:
        # Readable text whose header names no capture fields: well-formed but invalid, as a
        # JSON body with the wrong fields is (422; the schema cannot state a CSV header).
        raise InvalidInput(
            "the CSV header is not one of captures",
            [ErrorDetail(str(exc), field="body", code="bad_format")],
        ) from None
    service.check_batch_size(len(records), policy)
    items: list[CaptureItem | None] = []
    problems: list[ErrorDetail] = []
    for index, record in enumerate(records):
        if record.data is None:
            items.append(None)
            problems.append(
                ErrorDetail(
                    f"line {record.line}: {record.error}", index=index, code="unreadable_row"
                )
            )
            continue
        try:
            items.append(one_capture.validate_python(record.data))
        except ValidationError as exc:
            items.append(None)
            problems.extend(replace(d, index=index) for d in details_from_pydantic(exc.errors()))
    return items, problems


_UPLOAD_SCHEMA = {"type": "string", "description": "One capture per line (CSV with a header)"}


@router.post(
    "/captures",
    status_code=201,
    response_model=IngestResult,  # documentation; the answer is serialised directly
    responses={
        413: {"description": "Batch larger than MAX_BATCH_SIZE"},
        422: {
            "description": "Invalid capture(s) (invalid_input), or a sensor key that is not "
            "registered or is retired (unknown_sensor); nothing stored"
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            _capture_schema,
                            {"type": "array", "items": _capture_schema, "minItems": 1},
                        ]
                    }
                },
                "application/x-ndjson": {"schema": _UPLOAD_SCHEMA},
                "text/csv": {"schema": _UPLOAD_SCHEMA},
            },
        }
    },
)
async def post_captures(request: Request, state: ReadyState, now: Now, reach: Reach) -> Response:
    """Store one capture or a JSON array of captures, all or nothing.

    An item names either a building and room (and sensor_type), written to the room's default
    sensor of that type, or a registered `sensor` (optionally with `battery` and `signal`),
    attributed to the room the sensor was in at `ts`. An unregistered or retired sensor key is
    refused (`unknown_sensor`) and listed under GET /v1/sensors/unknown.

    Idempotent on (sensor, ts): an identical re-send counts as a duplicate, a different value
    replaces the stored one (last write wins). Values are converted to the sensor type's
    canonical unit. Unknown buildings and rooms are registered on the fly unless AUTO_REGISTER is
    off.

    Gateways may upload `application/x-ndjson` (one capture object per line) or `text/csv`
    (a header naming the capture fields, then one capture per row) with the same batch rules;
    problems are indexed by data row.

    A token limited to buildings: a batch with any capture outside them (named, or of a sensor
    that was in another building at `ts`) is refused as a whole, 403, nothing stored.
    """
    policy = service.policy_from(state.settings)
    metrics = state.metrics
    media_type = formats.media_type(request.headers.get("content-type"))
    body = await request.body()
    if media_type in formats.CSV_TYPES or media_type in formats.NDJSON_TYPES:
        items, problems = parse_records(body, media_type, policy)
        single = False
    else:
        items, problems, single = parse_body(body, policy)
    item = items[0]
    service.check_reach(items, reach)  # before the batcher: it shares transactions
    try:
        # The batcher shares a transaction between single captures of the building/room form;
        # the sensor form (assignment locks, status) takes the ordinary path.
        if single and isinstance(item, CaptureIn) and state.ingest_batcher is not None:
            counts = await state.ingest_batcher.submit(service.SingleCapture(item, now))
        else:
            # Committed before the response is sent: a 201 means durable.
            async with transaction(state) as conn:
                batch = service.ParsedBatch(items, problems, single=single)
                counts = await service.ingest(conn, batch, policy=policy, now=now, reach=reach)
    except InvalidInput as exc:
        metrics.observe_rejected(len(items), [d.code for d in exc.details])
        if isinstance(exc, UnknownSensors):
            # A transaction of its own: the request's rolled back, the record must survive.
            async with transaction(state) as conn:
                await service.record_refused(conn, exc.refused, now)
            metrics.unknown_sensor_captures.inc(sum(exc.refused.values()))
        raise
    metrics.observe_ingest(counts.inserted, counts.duplicates, counts.updated)
    result = IngestResult(
        inserted=counts.inserted, duplicates=counts.duplicates, updated=counts.updated
    )
    return json_response(result, status_code=201)
