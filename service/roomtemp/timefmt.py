"""Parsing of timestamps (RFC 3339 with offset, or Unix seconds) and durations like `15m`."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from roomtemp.errors import ErrorDetail, InvalidInput

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# PostgreSQL's timestamptz reaches far further, but a capture outside these years is a bug upstream.
MIN_TS = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TS = datetime(9999, 12, 31, tzinfo=UTC)

_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})?$"
)
# What the OpenAPI schema says a timestamp is (documentation: parse_timestamp decides). The
# pattern spells the accepted forms with valid fields (years 1970 … 9999; February up to the
# 28th, as no pattern knows leap years), so a client or fuzzer generating from it sends
# timestamps the API takes; the 29th of February of a leap year is accepted too.
TIMESTAMP_PATTERN = (
    r"^(?:[0-9]{1,11}(?:\.[0-9]{1,6})?"
    r"|(?:19[7-9][0-9]|[2-9][0-9]{3})-"
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
    r"|(?:0[13578]|1[02])-31)"
    r"[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]))$"
)
TIMESTAMP_DESCRIPTION = (
    "RFC 3339 with a UTC offset (e.g. 2026-11-22T10:00:00Z, 2026-11-22T10:00:00+01:00; "
    "fractions to 9 digits, kept to the microsecond), or seconds since the Unix epoch as a "
    "number or a string of digits; between 1970-01-01 and 9999-12-31T00:00:00Z once in UTC"
)
TIMESTAMP_STRING_SCHEMA: dict[str, object] = {"type": "string", "pattern": TIMESTAMP_PATTERN}
TIMESTAMP_JSON_SCHEMA: dict[str, object] = {
    "anyOf": [
        TIMESTAMP_STRING_SCHEMA,
        {"type": "number", "minimum": 0, "maximum": 253_402_214_400},
    ],
    "description": TIMESTAMP_DESCRIPTION,
}
TIMESTAMP_HELP = "RFC 3339 with a UTC offset, or Unix seconds"
DURATION_PATTERN = r"^[0-9]{1,7}[smhd]$"
_OUT_OF_RANGE = "timestamp is out of range (1970 … 9999)"
# A time followed by a space and hh:mm: an offset whose `+` a query string decoded as a space
# (`application/x-www-form-urlencoded`), the one mistake the parser's message cannot explain.
_PLUS_AS_SPACE = re.compile(r"[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)? \d{2}:\d{2}\s*$")
PLUS_HINT = (
    "there is a space where the offset's sign would be: a '+' in a URL query must be sent as "
    "%2B, or use Z"
)
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_DURATION = re.compile(r"^(\d{1,7})(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_timestamp(value: object) -> datetime:
    """RFC 3339 with an offset, or seconds since the Unix epoch; returns an aware UTC datetime.

    Raises ValueError with a message meant for the API user.
    """
    # Fast path for the common spelling (2026-11-22T10:00:00[.ffffff](Z|+hh:mm)): one regex and
    # the C parser; anything else takes the general path below. Batches parse 10,000 of these.
    if type(value) is str and len(value) >= 20 and value[10] == "T":
        match = _RFC3339.match(value)
        if match is not None and match["offset"] not in (None, "z") and len(match["time"]) <= 15:
            try:
                parsed = datetime.fromisoformat(value).astimezone(UTC)
            except (ValueError, OverflowError):
                pass
            else:
                if MIN_TS <= parsed <= MAX_TS:
                    return parsed
    try:
        return _parse_timestamp(value)
    except OverflowError:
        # A date near year 1 or 9999 whose offset moves it out of datetime's range, or an
        # integer too large for a float: out of range like any other, so a ValueError that
        # every caller already turns into a 4xx / a rejected row.
        raise ValueError(_OUT_OF_RANGE) from None


def _from_seconds(value: float) -> datetime:
    """Seconds since the Unix epoch as a UTC datetime (microsecond resolution)."""
    if not math.isfinite(value):
        raise ValueError("timestamp must be finite")
    if not MIN_TS.timestamp() <= float(value) <= MAX_TS.timestamp():
        raise ValueError("timestamp in seconds is out of range (1970 … 9999)")
    return EPOCH + timedelta(microseconds=round(value * 1_000_000))


def _parse_timestamp(value: object) -> datetime:
    if isinstance(value, bool):
        raise ValueError("timestamp must be an RFC 3339 string or a number of seconds")
    if isinstance(value, int | float):
        return _from_seconds(value)
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER.fullmatch(text):
            return _from_seconds(float(text))
        match = _RFC3339.match(text)
        if match is None:
            raise ValueError(
                "timestamp must be RFC 3339 with an offset (e.g. 2026-11-22T10:00:00Z) "
                "or seconds since the Unix epoch"
            )
        if match["offset"] is None:
            raise ValueError(
                "timestamp has no UTC offset; add one, e.g. 2026-11-22T10:00:00Z or +01:00"
            )
        fraction = match["time"][8:]
        normalised = f"{match['date']}T{match['time'][:8]}{fraction[:7]}{match['offset']}"
        try:
            parsed = datetime.fromisoformat(normalised.replace("z", "Z"))
        except ValueError as exc:
            raise ValueError(f"timestamp is not a valid date or time: {exc}") from None
        parsed = parsed.astimezone(UTC)
        if not MIN_TS <= parsed <= MAX_TS:
            raise ValueError(_OUT_OF_RANGE)
        return parsed
    raise ValueError("timestamp must be an RFC 3339 string or a number of seconds")


def parse_time(text: str, field: str) -> datetime:
    """A timestamp parameter named `field`; InvalidInput naming the field when it is not one."""
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        message = str(exc)
        if _PLUS_AS_SPACE.search(text):
            message += f"; {PLUS_HINT}"
        raise InvalidInput(
            f"invalid parameter {field!r}: {message}", [ErrorDetail(message, field)]
        ) from None


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `1h`, `1d` → timedelta. Raises ValueError."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError("duration must be a whole number followed by s, m, h or d, e.g. 15m")
    return timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for suffix, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{suffix}"
    return f"{seconds}s"


def to_micros(ts: datetime) -> int:
    """Microseconds since the Unix epoch, exact (no float rounding)."""
    return (ts - EPOCH) // timedelta(microseconds=1)


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)
