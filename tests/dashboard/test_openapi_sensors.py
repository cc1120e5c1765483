"""/openapi.json knows about sensors (issue 15): the capture item in either form, with an example
of each that the API really accepts, and the sensor endpoints with the error codes they answer.

Clients, Grafana's Infinity users and the Swagger UI read this document; a form or an error code
it leaves out is one they cannot discover.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

SENSOR_OPERATIONS = [
    ("/v1/sensors", "get"),
    ("/v1/sensors", "post"),
    ("/v1/sensors/unknown", "get"),
    ("/v1/sensors/{key}", "get"),
    ("/v1/sensors/{key}", "patch"),
    ("/v1/sensors/{key}", "delete"),
    ("/v1/sensors/{key}/moves", "post"),
    ("/v1/sensors/{key}/assignments", "get"),
    ("/v1/sensors/{key}/average", "get"),
    ("/v1/sensors/{key}/averages", "get"),
    ("/v1/sensors/{key}/captures", "get"),
]
# The domain error codes each operation can answer, as the design names them: the document
# must name them in that status's description, so a client knows what to branch on.
ERROR_CODES = {
    ("/v1/captures", "post", "422"): ["unknown_sensor"],
    ("/v1/sensors", "post", "409"): ["sensor_exists"],
    ("/v1/sensors/{key}", "delete", "409"): ["sensor_has_captures", "default_sensor"],
    ("/v1/sensors/{key}/moves", "post", "409"): ["sensor_retired", "move_not_after_latest"],
}


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    body: dict[str, Any] = client.get("/openapi.json").json()
    return body


def _resolve(spec: dict[str, Any], node: Any) -> Any:
    """The schema with every $ref inlined (the components have no cycles on these paths)."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return _resolve(spec, spec["components"]["schemas"][name])
        return {k: _resolve(spec, v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(spec, v) for v in node]
    return node


def _capture_body(spec: dict[str, Any]) -> dict[str, Any]:
    media = spec["paths"]["/v1/captures"]["post"]["requestBody"]["content"]["application/json"]
    resolved: dict[str, Any] = _resolve(spec, media)
    return resolved


def _examples(media: dict[str, Any]) -> list[Any]:
    """The examples Swagger UI and ReDoc show: the media type's, and each body form's."""
    found = [e["value"] for e in media.get("examples", {}).values()]
    found += [media["example"]] if "example" in media else []
    for form in [media["schema"], *_objects(media["schema"])]:
        found += form.get("examples", [])
    items: list[Any] = []
    for e in found:
        items += e if isinstance(e, list) else [e]
    return items


def _objects(node: Any) -> list[dict[str, Any]]:
    """Every object schema a body may be: through oneOf/anyOf/allOf and array items."""
    if not isinstance(node, dict):
        return []
    found = [node] if "properties" in node else []
    for key in ("oneOf", "anyOf", "allOf"):
        for branch in node.get(key, []):
            found += _objects(branch)
    return found + _objects(node.get("items"))


def test_capture_item_is_documented_in_both_forms(spec: dict[str, Any]) -> None:
    media = _capture_body(spec)
    forms = _objects(media["schema"])
    by_room = [
        f for f in forms if {"building", "room", "value", "ts"} <= set(f.get("required", []))
    ]
    by_sensor = [f for f in forms if {"sensor", "value", "ts"} <= set(f.get("required", []))]
    assert by_room, "the building/room form"
    assert by_sensor, "the sensor form"
    for form in by_sensor:  # the device metadata a sensor capture may carry, and nothing mixed
        assert {"battery", "signal"} <= set(form["properties"])
        assert not {"building", "room"} & set(form["properties"])
    for form in by_room:
        assert "sensor" not in form["properties"]
    examples = _examples(media)
    assert any("sensor" in e and "building" not in e for e in examples), examples
    assert any("building" in e and "sensor" not in e for e in examples), examples


def test_capture_examples_are_accepted_by_the_api(spec: dict[str, Any], client: TestClient) -> None:
    """The documented examples work as written (once their sensor is registered)."""
    examples = _examples(_capture_body(spec))
    assert any("sensor" in e for e in examples), "no sensor-form example"
    for key in {e["sensor"] for e in examples if "sensor" in e}:
        body = {"key": key, "sensor_type": "temperature", "building": "hq", "room": "3.14"}
        assert client.post("/v1/sensors", json=body).status_code == 201
    resp = client.post("/v1/captures", json=examples)
    assert resp.status_code == 201, resp.text


@pytest.mark.parametrize(("path", "method"), SENSOR_OPERATIONS)
def test_sensor_operations_are_documented(spec: dict[str, Any], path: str, method: str) -> None:
    operation = spec["paths"][path][method]
    assert operation.get("description") or operation.get("summary")
    if "{key}" in path:
        assert "404" in operation["responses"], "an unknown key answers 404"
        key = next(p for p in operation["parameters"] if p["name"] == "key")
        # Default sensors are named "{building}/{room}/{type}": the description must say so.
        assert "/" in (key.get("description", "") + key["schema"].get("description", ""))
    for status, response in operation["responses"].items():
        if status.startswith(("4", "5")) and status != "422":
            assert response.get("description"), (path, method, status)


@pytest.mark.parametrize(("where", "codes"), list(ERROR_CODES.items()), ids=str)
def test_error_codes_are_named(
    spec: dict[str, Any], where: tuple[str, str, str], codes: list[str]
) -> None:
    path, method, status = where
    response = spec["paths"][path][method]["responses"][status]
    text = response["description"] + str(response.get("content", ""))
    missing = [c for c in codes if c not in text]
    assert not missing, f"{method.upper()} {path} {status} does not name {missing}: {text!r}"
