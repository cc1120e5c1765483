"""CSV and NDJSON parsing (capture/formats.py) without a database or HTTP: headers, rows, the
line numbers and the reason each unreadable row carries."""

from __future__ import annotations

import csv

import pytest

from roomtemp.capture.formats import (
    FormatError,
    Record,
    csv_header,
    iter_csv,
    iter_ndjson,
    media_type,
)

HEADER_RULE = (
    "the CSV header must name capture fields "
    "(building, room, sensor, sensor_type, value, unit, ts, battery, signal; "
    "required: value, ts, and sensor or building and room)"
)
TS = "2026-11-22T10:00:00Z"


def csv_records(text: str) -> list[Record]:
    return list(iter_csv(text.splitlines(keepends=True)))


def test_header_in_any_order_any_case_with_spaces() -> None:
    assert csv_header([" TS", "Value ", "room", "BUILDING", "unit"]) == [
        "ts",
        "value",
        "room",
        "building",
        "unit",
    ]


def test_header_with_an_unknown_column_names_it() -> None:
    with pytest.raises(FormatError) as err:
        csv_header(["building", "room", "value", "ts", "colour"])
    assert str(err.value) == HEADER_RULE + "; unknown: colour"


def test_header_without_a_required_column_names_it() -> None:
    with pytest.raises(FormatError) as err:
        csv_header(["building", "room", "value"])
    assert str(err.value) == HEADER_RULE + "; missing: ts"


def test_header_naming_a_column_twice_is_refused() -> None:
    with pytest.raises(FormatError) as err:
        csv_header(["building", "room", "value", "ts", "room"])
    assert str(err.value) == HEADER_RULE


def test_csv_row_becomes_fields_with_a_numeric_value() -> None:
    [record] = csv_records(f"ts,value,room,building\n{TS},21.5,3.14,hq\n")
    assert record == Record(
        2, {"ts": TS, "value": 21.5, "room": "3.14", "building": "hq"}, None, f"{TS},21.5,3.14,hq"
    )


def test_csv_empty_cells_are_absent_fields_and_cells_are_stripped() -> None:
    [record] = csv_records(f"building,room,value,ts,unit,sensor_type\n hq , a ,20,{TS},,\n")
    assert record.data == {"building": "hq", "room": "a", "value": 20.0, "ts": TS}
    assert record.error is None


def test_csv_value_that_is_not_a_number_is_left_for_validation() -> None:
    [record] = csv_records(f"building,room,value,ts\nhq,a,warm,{TS}\n")
    assert record.data == {"building": "hq", "room": "a", "value": "warm", "ts": TS}


def test_csv_row_with_the_wrong_number_of_cells_is_a_rejected_row() -> None:
    records = csv_records(f"building,room,value,ts\nhq,a,20\nhq,b,21,{TS}\n")
    assert records[0] == Record(2, None, "expected 4 cells, got 3", "hq,a,20")
    assert records[1].line == 3
    assert records[1].data == {"building": "hq", "room": "b", "value": 21.0, "ts": TS}


def test_csv_blank_lines_are_skipped_but_counted_in_line_numbers() -> None:
    records = csv_records(f"building,room,value,ts\n\n  \nhq,a,20,{TS}\n")
    assert [(r.line, r.error) for r in records] == [(4, None)]


def test_csv_without_any_line_yields_nothing() -> None:
    assert csv_records("") == []


def test_csv_header_only_yields_nothing() -> None:
    assert csv_records("building,room,value,ts\n") == []


def test_csv_cell_over_the_field_limit_rejects_that_row_only() -> None:
    limit = csv.field_size_limit()
    big = "x" * (limit + 1)
    records = csv_records(f"building,room,value,ts\nhq,{big},20,{TS}\nhq,a,21,{TS}\n")
    assert records[0] == Record(2, None, f"a cell is longer than {limit:,} characters", "")
    assert records[1].data == {"building": "hq", "room": "a", "value": 21.0, "ts": TS}


def test_csv_header_over_the_field_limit_is_a_format_error() -> None:
    limit = csv.field_size_limit()
    with pytest.raises(FormatError) as err:
        csv_records("building," + "y" * (limit + 1) + "\n")
    assert (
        str(err.value)
        == f"the CSV header cannot be read: a cell is longer than {limit:,} characters"
    )


def test_ndjson_objects_blank_lines_and_bad_lines_keep_their_line_numbers() -> None:
    lines = [b'{"building": "hq", "value": 1}\n', b"\n", b"[1, 2]\r\n", b"{bad\n", b'"x"\n']
    records = list(iter_ndjson(lines))
    assert [r.line for r in records] == [1, 3, 4, 5]
    assert records[0] == Record(
        1, {"building": "hq", "value": 1}, None, '{"building": "hq", "value": 1}'
    )
    assert records[1] == Record(3, None, "each line must be one JSON object", "[1, 2]")
    assert records[2].data is None
    assert records[2].raw == "{bad"
    assert records[2].error is not None
    assert records[2].error.startswith("not valid JSON: ")
    assert records[3] == Record(5, None, "each line must be one JSON object", '"x"')


def test_ndjson_line_that_is_not_utf8_is_rejected_with_a_readable_raw_text() -> None:
    [record] = list(iter_ndjson([b'{"room": "\xff"}\n']))
    assert record.data is None
    assert record.raw == '{"room": "\ufffd"}'
    assert record.error is not None
    assert record.error.startswith("not valid JSON: ")


def test_ndjson_whitespace_only_lines_are_skipped() -> None:
    assert list(iter_ndjson([b"  \t\n", b"\r\n"])) == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "application/json"),
        ("text/CSV; charset=utf-8", "text/csv"),
        (" application/x-ndjson ", "application/x-ndjson"),
        ("", "application/json"),
    ],
)
def test_media_type(header: str | None, expected: str) -> None:
    assert media_type(header) == expected
