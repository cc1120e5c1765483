"""The published API surface: the OpenAPI paths and their operations, in order.

`/v1` is set once in app.py (issue 18); this pins what clients see so that moving the prefix, or
any other wiring change, cannot add, drop or rename an operation unnoticed.
"""

from __future__ import annotations

import pytest

from roomtemp.app import create_app
from tests.conftest import make_settings

EXPECTED = [
    ("/healthz", ["get"]),
    ("/readyz", ["get"]),
    ("/metrics", ["get"]),
    ("/v1/captures", ["post"]),
    ("/v1/buildings/{building}/rooms/{room}/average", ["get"]),
    ("/v1/buildings/{building}/rooms/{room}/averages", ["get"]),
    ("/v1/buildings/{building}/averages", ["get"]),
    ("/v1/sensors/{key}/average", ["get"]),
    ("/v1/sensors/{key}/averages", ["get"]),
    ("/v1/buildings", ["get"]),
    ("/v1/buildings/{building}", ["get", "put", "patch", "delete"]),
    ("/v1/buildings/{building}/rooms", ["get"]),
    ("/v1/buildings/{building}/rooms/{room}", ["get", "put", "patch", "delete"]),
    ("/v1/sensor-types", ["get"]),
    ("/v1/sensor-types/{key}", ["get", "put", "delete"]),
    ("/v1/sensors", ["get", "post"]),
    ("/v1/sensors/unknown", ["get"]),
    ("/v1/sensors/{key}/assignments", ["get"]),
    ("/v1/sensors/{key}/moves", ["post"]),
    ("/v1/sensors/{key}", ["get", "patch", "delete"]),
    ("/v1/tokens", ["post", "get"]),
    ("/v1/tokens/{token_id}", ["delete"]),
    # Deletes (issue 23): the admin router comes before export's, so DELETE is listed first.
    ("/v1/buildings/{building}/rooms/{room}/captures", ["delete", "get"]),
    ("/v1/deletions", ["get"]),
    ("/v1/sensors/{key}/captures", ["get"]),
    ("/v1/buildings/{building}/report", ["get"]),
    ("/v1/buildings/{building}/live", ["get"]),
    ("/v1/buildings/{building}/rooms/{room}/live", ["get"]),
    ("/v1/alert-rules", ["get"]),
    ("/v1/alert-rules/{name}", ["get", "put", "delete"]),
    ("/v1/alert-receivers", ["get"]),
    ("/v1/alert-receivers/{name}", ["get", "put", "delete"]),
    ("/v1/alerts", ["get"]),
    ("/v1/alerts/{alert_id}", ["get"]),
    ("/v1/alerts/{alert_id}/ack", ["post"]),
    ("/v1/alerts/{alert_id}/silence", ["post", "delete"]),
]


@pytest.mark.parametrize("auth_required", [False, True])
def test_openapi_paths_are_unchanged(auth_required: bool) -> None:
    # No database is contacted: openapi() needs only the routes, not the lifespan.
    settings = make_settings(
        database_url="postgresql://roomtemp@127.0.0.1:1/roomtemp",
        auth_required=auth_required,
        token_hash_key="k" * 40 if auth_required else None,
    )
    paths = create_app(settings).openapi()["paths"]
    assert [(p, list(ops)) for p, ops in paths.items()] == EXPECTED
