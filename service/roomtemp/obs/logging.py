"""Log configuration: JSON lines (or text) on stdout, the request id on every line."""

from __future__ import annotations

import copy
import logging
import logging.config
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

REQUEST_ID_HEADER = "x-request-id"
# Accepted from clients as is; anything else (too long, odd characters) is replaced, so a
# request id can never inject into log lines or headers.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else passed with `extra=` goes into the JSON object.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "color_message",
}


def request_id_from(header: str | None) -> str:
    """The client's X-Request-ID if it is sane, else a fresh one."""
    if header is not None and _REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Stamps the current request id (or None) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """`ts LEVEL logger [request id] message`; `[-]` outside a request (startup, background
    tasks), as access logs mark a missing field."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        if getattr(record, "request_id", None) is None:
            record = copy.copy(record)  # other handlers (JSON) still see None
            record.request_id = "-"
        return super().formatMessage(record)


def logging_config(level: str, fmt: str, stream: str = "stdout") -> dict[str, Any]:
    """A dictConfig for our loggers and uvicorn's (also given to uvicorn for its workers).

    The server logs to stdout (the container log); CLI commands to stderr, apart from their output.
    """
    formatter = (
        "roomtemp.obs.logging.JsonFormatter"
        if fmt == "json"
        else ("roomtemp.obs.logging.TextFormatter")
    )
    handler = {
        "class": "logging.StreamHandler",
        "stream": f"ext://sys.{stream}",
        "formatter": "default",
        "filters": ["request_id"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "roomtemp.obs.logging.RequestIdFilter"}},
        "formatters": {"default": {"()": formatter}},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {
            # uvicorn's own handlers would print a second, unstructured copy.
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            # Our middleware logs each request once, with more fields; uvicorn's is off.
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }


def configure(level: str, fmt: str, stream: str = "stdout") -> None:
    """Configure logging for this process, unless something already did (like basicConfig: a
    host such as pytest keeps its handlers; only the level is applied)."""
    root = logging.getLogger()
    if root.handlers:
        root.setLevel(level.upper())
        return
    logging.config.dictConfig(logging_config(level, fmt, stream))
