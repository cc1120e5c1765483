"""A capture body (one JSON object or an array) → parsed items and their problems.

Shared by POST /v1/captures and the MQTT bridge's `captures` format, so both read exactly the
same JSON the same way.
"""

from __future__ import annotations

from dataclasses import replace

import orjson
from pydantic import ValidationError

from roomtemp.capture.rules import IngestPolicy, check_batch_size
from roomtemp.capture.schemas import CaptureItem, one_capture
from roomtemp.errors import ErrorDetail, MalformedRequest, details_from_pydantic


def parse_body(
    body: bytes, policy: IngestPolicy
) -> tuple[list[CaptureItem | None], list[ErrorDetail], bool]:
    """One capture object or an array of them → (items, problems, was_single).

    An item that fails validation is None in `items` and has its problems listed, so the domain
    checks still run on the others and the answer lists every bad item at once.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(
            "the body is not valid JSON", [ErrorDetail(str(exc), field="body", code="json_invalid")]
        ) from None
    single = not isinstance(data, list)
    check_batch_size(1 if single else len(data), policy)
    try:
        if single:
            return [one_capture.validate_python(data)], [], True
        items: list[CaptureItem | None] = [*one_capture.validate_many(data)]
        return items, [], False
    except ValidationError as exc:
        if single:
            return [None], details_from_pydantic(exc.errors()), True
    # Some item is invalid: item by item, so each one's problems are named under its index.
    items = []
    problems: list[ErrorDetail] = []
    for index, raw in enumerate(data):
        try:
            items.append(one_capture.validate_python(raw))
        except ValidationError as exc:
            items.append(None)
            problems.extend(replace(d, index=index) for d in details_from_pydantic(exc.errors()))
    return items, problems, False
