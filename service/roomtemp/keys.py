"""Keys that name buildings, rooms and sensor types in URLs and payloads."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
KEY_MAX_LENGTH = 64

Key = Annotated[
    str,
    StringConstraints(min_length=1, max_length=KEY_MAX_LENGTH, pattern=KEY_PATTERN, strict=True),
]
