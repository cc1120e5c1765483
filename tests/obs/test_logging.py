"""Log lines: `-` for a missing request id in text (null in JSON); the auth-off warning once."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson

from roomtemp.obs.logging import JsonFormatter, RequestIdFilter, TextFormatter, request_id_var
from tests.system.ops.server import live_server


def record(message: str) -> logging.LogRecord:
    rec = logging.LogRecord("roomtemp.test", logging.WARNING, __file__, 1, message, None, None)
    RequestIdFilter().filter(rec)  # as the configured handler does
    return rec


def test_text_log_marks_a_missing_request_id_with_a_dash() -> None:
    outside = record("outside a request")
    assert " WARNING roomtemp.test [-] outside a request" in TextFormatter().format(outside)
    # The same record through the JSON formatter (both may share it): still null there.
    assert orjson.loads(JsonFormatter().format(outside))["request_id"] is None

    token = request_id_var.set("req-7")
    try:
        inside = record("in a request")
    finally:
        request_id_var.reset(token)
    assert " WARNING roomtemp.test [req-7] in a request" in TextFormatter().format(inside)
    assert orjson.loads(JsonFormatter().format(inside))["request_id"] == "req-7"


def test_serve_warns_once_that_auth_is_off(database_url: str, tmp_path: Path) -> None:
    """`make run`'s settings: the real server process, its whole log up to ready."""
    with live_server(database_url, tmp_path, AUTH_REQUIRED="false", LOG_FORMAT="text") as server:
        lines = server.log_lines()
    warnings = [line for line in lines if "AUTH_REQUIRED" in line and "false" in line]
    assert len(warnings) == 1, lines
    assert " WARNING roomtemp [-] AUTH_REQUIRED=false: AUTHENTICATION IS OFF" in warnings[0]
    assert not [line for line in lines if "[None]" in line], lines
