"""Opaque keyset cursors for list endpoints (never OFFSET).

A cursor is the URL-safe base64 of the last item's key (registry lists) or of the last
capture's microseconds since the epoch (export). Decoding checks that the content is one this
API could have issued, so a forged cursor is a 422, never a key the database cannot compare or
an instant Python cannot represent.
"""

from __future__ import annotations

import base64
import binascii
import re

from roomtemp.errors import ErrorDetail, InvalidInput
from roomtemp.keys import is_valid_key

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: What every cursor looks like on the wire (URL-safe base64 without padding).
CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$"
_INTEGER = re.compile(r"-?[0-9]{1,19}")


def _invalid() -> InvalidInput:
    return InvalidInput(
        "invalid cursor", [ErrorDetail("cursor is not one this API returned", field="cursor")]
    )


def encode_cursor(last_key: str) -> str:
    return base64.urlsafe_b64encode(last_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The text inside a cursor; InvalidInput when it is not base64 of UTF-8. An empty cursor
    (`?cursor=`, what a client sends for a null `next_cursor`) is the first page."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise _invalid() from None


def decode_key_cursor(cursor: str | None) -> str | None:
    """The key after which a registry list continues; it must be a valid key."""
    decoded = decode_cursor(cursor)
    if decoded is not None and not is_valid_key(decoded):
        raise _invalid()
    return decoded


def decode_int_cursor(cursor: str | None, low: int, high: int) -> int | None:
    """The integer inside a cursor, which must lie in [low, high] (e.g. an instant we can hold)."""
    decoded = decode_cursor(cursor)
    if decoded is None:
        return None
    if _INTEGER.fullmatch(decoded) is None or not low <= (value := int(decoded)) <= high:
        raise _invalid()
    return value


def next_cursor(keys: list[str], limit: int) -> str | None:
    """A cursor for the page after `keys` when the page came back full."""
    return encode_cursor(keys[-1]) if len(keys) == limit and keys else None
