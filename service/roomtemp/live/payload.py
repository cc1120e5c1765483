"""The format of the notifies that announce stored captures (both sides read it from here).

Payload, JSON: `{"seq": n, "rooms": [room ids], "captures": [[room, sensor, ts µs, value], …]}`
(the value as stored, canonical unit: listeners need not read the captures back), with
`"changed": true` instead of `captures` when the keys do not fit (an import's chunk): listeners
then refresh those rooms and send no capture events. PostgreSQL refuses payloads of 8,000 bytes
or more, so rooms that do not fit in one are announced in several notifies, each with its own
number (the `{"seq":n,` prefix is added in SQL, where the number is drawn).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

CHANNEL = "roomtemp_captures"
#: Below PostgreSQL's 8,000-byte limit with room for the `{"seq":…,` prefix.
MAX_PAYLOAD = 7_900
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

CaptureKey = tuple[int, int, datetime]
Change = tuple[int, int, datetime, float]  # a key and the value it now has


def _micros(ts: datetime) -> int:
    return (ts - _EPOCH) // timedelta(microseconds=1)


def _from_micros(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _room_markers(rooms: list[int]) -> list[str]:
    out: list[str] = []
    chunk: list[int] = []
    size = 0
    for room in rooms:
        width = len(str(room)) + 1
        if chunk and size + width > MAX_PAYLOAD - 40:
            out.append(orjson.dumps({"rooms": chunk, "changed": True}).decode()[1:])
            chunk, size = [], 0
        chunk.append(room)
        size += width
    out.append(orjson.dumps({"rooms": chunk, "changed": True}).decode()[1:])
    return out


def bodies(changes: Sequence[Change], *, exact: bool = True) -> list[str]:
    """The payload bodies (each without its leading `{"seq":n,`) announcing these changes.

    `exact=False`: they stand for their rooms only (the staged import knows changed buckets,
    not captures), so only the per-room markers are sent."""
    rooms = sorted({k[0] for k in changes})
    if exact:
        captures = [[r, s, _micros(ts), v] for r, s, ts, v in changes]
        whole = orjson.dumps({"rooms": rooms, "captures": captures}).decode()[1:]
        if len(whole) <= MAX_PAYLOAD:
            return [whole]
    return _room_markers(rooms)


@dataclass(frozen=True)
class Announcement:
    """One notify as a listener reads it."""

    seq: int
    rooms: tuple[int, ...]
    captures: tuple[Change, ...] | None  # None: too many to list ("changed")


def parse(payload: str) -> Announcement:
    data = orjson.loads(payload)
    captures = data.get("captures")
    return Announcement(
        int(data["seq"]),
        tuple(int(r) for r in data["rooms"]),
        None
        if captures is None
        else tuple((int(r), int(s), _from_micros(int(us)), float(v)) for r, s, us, v in captures),
    )
