"""Opaque keyset cursors for list endpoints (never OFFSET)."""

from __future__ import annotations

import base64
import binascii

from roomtemp.errors import ErrorDetail, InvalidInput

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def encode_cursor(last_key: str) -> str:
    return base64.urlsafe_b64encode(last_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidInput(
            "invalid cursor", [ErrorDetail("cursor is not one this API returned", field="cursor")]
        ) from None


def next_cursor(keys: list[str], limit: int) -> str | None:
    """A cursor for the page after `keys` when the page came back full."""
    return encode_cursor(keys[-1]) if len(keys) == limit and keys else None
