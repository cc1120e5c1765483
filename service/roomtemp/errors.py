"""Domain exceptions. They carry a stable code and details, never an HTTP status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ErrorDetail:
    """One problem with the input: where (item index, field) and why."""

    message: str
    field: str | None = None
    index: int | None = None
    code: str = "invalid"

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "field": self.field,
            "code": self.code,
            "message": self.message,
        }


@dataclass
class DomainError(Exception):
    message: str
    details: list[ErrorDetail] = field(default_factory=list)
    code: str = "error"

    def __str__(self) -> str:
        return self.message


class InvalidInput(DomainError):
    """The request is well-formed but breaks a domain rule (→ 422)."""

    def __init__(self, message: str, details: list[ErrorDetail] | None = None) -> None:
        super().__init__(message, details or [], "invalid_input")


class UnknownSensors(InvalidInput):
    """Invalid input that names sensor keys nobody registered (or retired). `refused` counts the
    captures per key, for the caller to record once the batch's transaction has rolled back."""

    def __init__(self, message: str, details: list[ErrorDetail], refused: dict[str, int]) -> None:
        super().__init__(message, details)
        self.refused = refused


class NotFound(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], "not_found")


class Forbidden(DomainError):
    """The caller is known but may not do this (→ 403): e.g. a write to a building outside its
    token's buildings."""

    def __init__(self, message: str, code: str = "forbidden") -> None:
        super().__init__(message, [], code)


class Conflict(DomainError):
    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message, [], code)


class PayloadTooLarge(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(message, [], "payload_too_large")


class ServiceUnavailable(DomainError):
    """A dependency (the database, the schema) is not ready (→ 503); `retry_after`: the
    seconds the answer's Retry-After tells the client to wait, if known."""

    def __init__(
        self, message: str, code: str = "service_unavailable", retry_after: int | None = None
    ) -> None:
        super().__init__(message, [], code)
        self.retry_after = retry_after


class NotConfigured(DomainError):
    """A feature this server was started without: permanent until it is restarted with the
    setting, so not a 503 to retry (→ 409, a conflict with the server's configuration)."""

    def __init__(self, message: str, code: str = "not_configured") -> None:
        super().__init__(message, [], code)


class MalformedRequest(DomainError):
    """The request cannot be parsed at all (→ 400)."""

    def __init__(self, message: str, details: list[ErrorDetail] | None = None) -> None:
        super().__init__(message, details or [], "malformed_request")


def details_from_pydantic(errors: Sequence[Any], *, batch: bool = False) -> list[ErrorDetail]:
    """Pydantic/FastAPI error entries → details with the item index and the field name."""
    details = []
    for err in errors:
        loc = [p for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        index = None
        if batch and loc and isinstance(loc[0], int):
            index = loc.pop(0)
        field = ".".join(str(p) for p in loc) or None
        message = str(err.get("msg", "invalid"))
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        details.append(ErrorDetail(message, field=field, index=index, code=str(err.get("type"))))
    return details
