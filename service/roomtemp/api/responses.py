"""The one way a route answers JSON: its schema model, serialised by pydantic-core in one step."""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def json_response(model: BaseModel, *, status_code: int = 200) -> Response:
    """`model` as the JSON body (field aliases applied, as FastAPI's own path applies them).

    Returning the model from the endpoint would make FastAPI validate it against the
    response_model again and serialise it through jsonable_encoder: CPU the latest-average
    route (bench/) cannot spare. The route still declares `response_model=` for the OpenAPI
    document.
    """
    return Response(
        model.model_dump_json(by_alias=True), status_code=status_code, media_type="application/json"
    )
