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


def timestamptz_of_micros(column: str) -> str:
    """SQL for the timestamptz of `column`, a bigint from micros_literal (exact, see above)."""
    return (
        f"timestamptz '1970-01-01 00:00:00+00' + interval '1 second' * ({column} / 1000000)"
        f" + interval '1 microsecond' * ({column} % 1000000)"
    )


# The rows of a batch of captures sent as four array parameters, :room_ids, :sensor_ids,
# :ts (micros_literal) and :vals: columns room_id, sensor_id, ts, value.
CAPTURE_ROWS = f"""
    SELECT i.room_id, i.sensor_id, {timestamptz_of_micros("i.us")} AS ts, i.value
    FROM unnest(CAST(:room_ids AS integer[]), CAST(:sensor_ids AS integer[]),
                CAST(:ts AS bigint[]), CAST(:vals AS double precision[]))
         AS i(room_id, sensor_id, us, value)
"""  # noqa: S608 - a fixed fragment; values are bound
