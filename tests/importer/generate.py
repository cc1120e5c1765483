"""A generated capture file with known bad rows, and what importing it must give."""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2026, 10, 1, tzinfo=UTC)
HEADER = ["ts", "building", "room", "value", "unit"]  # any column order works


@dataclass
class Expected:
    rows: int = 0
    inserted: int = 0
    duplicates: int = 0
    updated: int = 0
    rejected: dict[int, str] = field(default_factory=dict)  # line → code
    stored: dict[tuple[str, str, datetime], float] = field(default_factory=dict)  # celsius


def write_csv(path: Path, rooms: int, per_room: int, shift: float = 0.0) -> Expected:
    """rooms x per_room readings a minute apart, with one bad, duplicate or updated row in 97;
    `shift` is added to every value (the same file with changed values)."""
    exp = Expected()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        line = 1
        rooms_keys = [f"r{r:03d}" for r in range(rooms)]
        for n in range(per_room):
            ts = START + timedelta(minutes=n)
            iso = ts.isoformat()
            for r in range(rooms):
                room = rooms_keys[r]
                value = round(19 + (n % 600) / 100 + r / 50, 2) + shift
                kind = (n * rooms + r) % 97
                line += 1
                exp.rows += 1
                row = [iso, "hq", room, str(value), "celsius"]
                if kind == 5:
                    row[3] = "warm"
                    exp.rejected[line] = "float_type"
                elif kind == 17:
                    row[4] = "kelvin"  # 20 K: implausible for a room
                    exp.rejected[line] = "implausible_value"
                elif kind == 29:
                    row[0] = "2026-10-01 12:00"  # no seconds, no offset
                    exp.rejected[line] = "value_error"
                elif kind == 41:
                    row = row[:3]
                    exp.rejected[line] = "unreadable_row"
                elif kind == 53:
                    row[0] = "2030-01-01T00:00:00Z"
                    exp.rejected[line] = "in_future"
                elif kind == 67:
                    row[4] = "lumen"
                    exp.rejected[line] = "bad_unit"
                else:
                    key = ("hq", room, ts)
                    exp.stored[key] = value
                    exp.inserted += 1
                w.writerow(row)
                if kind in (3, 71):  # sent twice: identical, or corrected
                    resent = value if kind == 3 else value + 0.5
                    w.writerow([iso, "hq", room, str(resent), "celsius"])
                    line += 1
                    exp.rows += 1
                    if kind == 3:
                        exp.duplicates += 1
                    else:
                        exp.updated += 1
                        exp.stored[("hq", room, ts)] = resent
    return exp
