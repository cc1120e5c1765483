"""Opening an import file: `-` for stdin, gzip by its magic bytes, CSV or NDJSON by name or
content; records stream lazily and the position in the raw file drives the progress ETA."""

from __future__ import annotations

import gzip
import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Literal, cast

from roomtemp.capture import formats

Format = Literal["csv", "ndjson"]
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Source:
    records: Iterator[formats.Record]
    raw: IO[bytes]  # the file as stored (compressed or not), for progress
    size: int | None  # its size in bytes when known

    def fraction_read(self) -> float | None:
        if not self.size:
            return None
        try:
            return min(self.raw.tell() / self.size, 1.0)
        except (OSError, ValueError):
            return None


def guess_format(name: str, head: bytes) -> Format:
    lowered = name.lower().removesuffix(".gz")
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".ndjson", ".jsonl", ".json")):
        return "ndjson"
    return "ndjson" if head.lstrip().startswith(b"{") else "csv"


@contextmanager
def open_source(path: str, fmt: Format | None = None) -> Iterator[Source]:
    raw: io.BufferedReader
    if path == "-":
        stdin = sys.stdin.buffer
        raw = stdin if isinstance(stdin, io.BufferedReader) else io.BufferedReader(stdin)  # type: ignore[arg-type]
        size = None
    else:
        raw = open(path, "rb")  # noqa: SIM115 - closed below
        size = os.fstat(raw.fileno()).st_size
    try:
        data: IO[bytes] = raw
        if raw.peek(2)[:2] == _GZIP_MAGIC:
            unzipped = gzip.GzipFile(fileobj=raw, mode="rb")
            head = unzipped.peek(64)
            data = cast(IO[bytes], unzipped)
        else:
            head = raw.peek(64)
        chosen = fmt or guess_format(path, head)
        if chosen == "csv":
            text = io.TextIOWrapper(data, encoding="utf-8-sig", newline="")
            records = formats.iter_csv(text)
        else:
            records = formats.iter_ndjson(data)
        yield Source(records, raw, size)
    finally:
        if path != "-":
            raw.close()
