"""Capture records in CSV and NDJSON (files, uploads): rows → the dicts CaptureIn validates.

CSV needs a header naming capture fields (building, room, sensor_type, value, unit, ts, and
for the sensor form sensor, battery, signal; any order); empty cells are absent fields, so a row
uses either its sensor cell or its building and room cells. NDJSON is one capture
object per line; blank lines are skipped. Parsing is lazy, so files of any size stream through.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

FIELDS = ("building", "room", "sensor", "sensor_type", "value", "unit", "ts", "battery", "signal")
REQUIRED = ("value", "ts")
_NUMBERS = ("value", "battery", "signal")
CSV_TYPES = ("text/csv", "application/csv")
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


class FormatError(ValueError):
    """The file as a whole cannot be read (e.g. a CSV header that names no capture fields)."""


@dataclass(frozen=True)
class Record:
    """One data row: its line number (1-based, in the file), the fields, or why it is unreadable."""

    line: int
    data: dict[str, Any] | None
    error: str | None = None
    raw: str = ""


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text  # validation then says it is not a number


def csv_header(row: list[str]) -> list[str]:
    header = [c.strip().lower() for c in row]
    unknown = [c for c in header if c not in FIELDS]
    missing = [c for c in REQUIRED if c not in header]
    if "sensor" not in header:  # without a sensor column every row needs building and room
        missing += [c for c in ("building", "room") if c not in header]
    if unknown or missing or len(set(header)) != len(header):
        raise FormatError(
            "the CSV header must name capture fields "
            f"({', '.join(FIELDS)}; required: {', '.join(REQUIRED)}, "
            "and sensor or building and room)"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    return header


def iter_csv(lines: Iterable[str]) -> Iterator[Record]:
    reader = csv.reader(lines)
    try:
        header = csv_header(next(reader))
    except StopIteration:
        return
    except csv.Error as exc:  # e.g. a header cell over csv.field_size_limit()
        raise FormatError(f"the CSV header cannot be read: {_csv_problem(exc)}") from None
    numbers = [name for name in header if name in _NUMBERS]
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # One bad row (a cell over the limit): reject it and go on with the next line.
            yield Record(reader.line_num, None, _csv_problem(exc), "")
            continue
        raw = ",".join(row)
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != len(header):
            yield Record(
                reader.line_num, None, f"expected {len(header)} cells, got {len(row)}", raw
            )
            continue
        yield Record(reader.line_num, _fields(header, numbers, row), None, raw)


def _fields(header: list[str], numbers: list[str], row: list[str]) -> dict[str, Any]:
    """A row's non-empty cells by field name, numbers as floats where they read as one."""
    cells = [c.strip() for c in row]
    if all(cells):  # every cell given (the common row): the dict in one step
        data: dict[str, Any] = dict(zip(header, cells, strict=True))
        for name in numbers:
            data[name] = _number(data[name])
        return data
    return {
        name: _number(cell) if name in _NUMBERS else cell
        for name, cell in zip(header, cells, strict=True)
        if cell
    }


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"a cell is longer than {csv.field_size_limit():,} characters"
    return f"not valid CSV: {exc}"


def iter_ndjson(lines: Iterable[bytes]) -> Iterator[Record]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        raw = line.decode("utf-8", "replace").rstrip("\r\n")
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield Record(number, None, f"not valid JSON: {exc}", raw)
            continue
        if not isinstance(data, dict):
            yield Record(number, None, "each line must be one JSON object", raw)
            continue
        yield Record(number, data, None, raw)


def media_type(content_type: str | None) -> str:
    return (content_type or "application/json").split(";")[0].strip().lower()
