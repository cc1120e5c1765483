"""Keys that name buildings, rooms and sensor types in URLs and payloads."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
KEY_MAX_LENGTH = 64
_KEY_RE = re.compile(KEY_PATTERN)

Key = Annotated[
    str,
    StringConstraints(min_length=1, max_length=KEY_MAX_LENGTH, pattern=KEY_PATTERN, strict=True),
]


def is_valid_key(value: str) -> bool:
    return len(value) <= KEY_MAX_LENGTH and _KEY_RE.fullmatch(value) is not None
