"""Array parameters as PostgreSQL array literals, for statements that take a whole batch.

psycopg adapts a Python list element by element in Python (quoting each); a batch of 10,000
captures spent more time there than in PostgreSQL. Numbers need no quoting, so one `join`
builds the literal and PostgreSQL's array parser does the rest. Timestamps travel as integer
microseconds since the Unix epoch; SQL turns them back from whole seconds and the microsecond
remainder (each below 2**53, so `interval * number` is exact in any year). Floats use repr(),
which reads back to the same double.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def int_literal(values: Iterable[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def float_literal(values: Iterable[float]) -> str:
    return "{" + ",".join(map(repr, values)) + "}"


def micros_literal(values: Iterable[datetime]) -> str:
    return "{" + ",".join(str((t - _EPOCH) // _MICRO) for t in values) + "}"
