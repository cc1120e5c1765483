"""A rule's schedule: `{"days": [1..7], "from": "HH:MM", "to": "HH:MM"}` (ISO weekdays, local
wall-clock times in the building's zone, `to` exclusive and after `from`, "24:00" = midnight)."""

from __future__ import annotations

import re
from datetime import time
from typing import Any

from roomtemp.alerts.machine import Schedule

_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def _clock(value: object, name: str, *, end: bool) -> time | None:
    if end and value == "24:00":
        return None
    match = _HHMM.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"schedule.{name} must be HH:MM (00:00 to {'24:00' if end else '23:59'})")
    return time(int(match.group(1)), int(match.group(2)))


def parse_schedule(raw: dict[str, Any]) -> Schedule:
    """The schedule of a stored or submitted object; ValueError says what is wrong."""
    unknown = set(raw) - {"days", "from", "to"}
    if unknown:
        raise ValueError(f"schedule: unknown field(s) {', '.join(sorted(unknown))}")
    days = raw.get("days", [1, 2, 3, 4, 5, 6, 7])
    if (
        not isinstance(days, list)
        or not days
        or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in days)
    ):
        raise ValueError("schedule.days must be a non-empty list of ISO weekdays 1 (Mon) to 7")
    start = _clock(raw.get("from", "00:00"), "from", end=False)
    end = _clock(raw.get("to", "24:00"), "to", end=True)
    assert start is not None
    if end is not None and end <= start:
        raise ValueError("schedule.to must be after schedule.from (no range across midnight)")
    return Schedule(frozenset(days), start, end)


def schedule_json(s: Schedule) -> dict[str, Any]:
    """The stored form."""
    return {
        "days": sorted(s.days),
        "from": s.start.strftime("%H:%M"),
        "to": "24:00" if s.end is None else s.end.strftime("%H:%M"),
    }
