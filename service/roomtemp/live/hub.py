"""One process's fan-out of live updates: subscribers, the ring of recent events, the rounds.

Notifies arrive from the listener in commit order (PostgreSQL delivers them so), each gets an
arrival position, and is kept in a bounded ring for `Last-Event-ID` resume. A round starts when
a notify arrives, waits LIVE_COALESCE_MS for more, then reads the latest 15-minute window of
every affected room of the subscribed buildings, all sensor types, in ONE statement (plus one
for the captures themselves when a subscriber asked for them), and queues each subscriber's
events as one chunk. Event ids are the notifies' sequence numbers, the same on every replica:
a client resumes on whichever replica it reaches. Only the last event of a chunk carries the id,
so a client cut off inside a chunk resumes before it (a repeat, never a gap).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from roomtemp.average import service as averages
from roomtemp.errors import InvalidInput
from roomtemp.live import queries
from roomtemp.live.payload import Announcement

log = logging.getLogger(__name__)

WINDOW = timedelta(minutes=15)
#: Every running hub, so the server's shutdown can close their streams (api/server.py).
RUNNING: weakref.WeakSet[Hub] = weakref.WeakSet()


def frame(event: str | None, data: Any = None, *, id_: int | None = None) -> bytes:
    """One SSE message (data is JSON on one line)."""
    parts = []
    if id_ is not None:
        parts.append(f"id: {id_}\n")
    if event is not None:
        parts.append(f"event: {event}\n")
    if data is not None:
        parts.append("data: " + orjson.dumps(data, option=orjson.OPT_UTC_Z).decode() + "\n")
    return ("".join(parts) + "\n").encode()


@dataclass(frozen=True)
class Close:
    """The last chunk of a stream: why it ends."""

    chunk: bytes


@dataclass(eq=False)
class Subscriber:
    building: str
    building_id: int
    room: str | None
    room_id: int | None
    sensor_type: str | None  # None: every type
    unit: str | None
    captures: bool
    queue: asyncio.Queue[bytes | Close]
    cursor: int = 0  # arrival position served up to
    last_seq: int | None = None  # the id of the last notify served (sent or not in scope)

    def wants_room(self, room_id: int) -> bool:
        return self.room_id is None or self.room_id == room_id

    def wants_type(self, sensor_type: str) -> bool:
        return self.sensor_type is None or self.sensor_type == sensor_type


@dataclass
class _Entry:
    pos: int
    ann: Announcement


def _convert(sensor_type: str, canonical: str, unit: str | None) -> averages.Scale:
    try:
        return averages.scale_of(sensor_type, canonical, unit)
    except InvalidInput:  # a unit of another quantity (celsius for humidity): canonical
        return averages.scale_of(sensor_type, canonical, None)


def average_body(sub: Subscriber, avg: averages.LiveRoomAverage) -> dict[str, Any]:
    """The same fields as a room of GET /v1/buildings/{b}/averages (the latest window)."""
    scale = _convert(avg.sensor_type, avg.canonical_unit, sub.unit)
    s = avg.stats
    return {
        "building": avg.building,
        "room": s.room,
        "sensor_type": avg.sensor_type,
        "unit": scale.unit,
        "window_start": avg.window_start,
        "window_end": avg.window_end,
        "count": s.count,
        "mean": scale.value(s.mean),
        "min": scale.value(s.min),
        "max": scale.value(s.max),
        "last_ts": s.last_ts,
        "sensors": s.sensors,
    }


def capture_body(
    sub: Subscriber,
    where: tuple[str, str],
    sensor: queries.SensorNames,
    ts: datetime,
    value: float,
) -> dict[str, Any]:
    scale = _convert(sensor.sensor_type, sensor.unit, sub.unit)
    return {
        "building": where[0],
        "room": where[1],
        "sensor": sensor.sensor,
        "sensor_type": sensor.sensor_type,
        "unit": scale.unit,
        "ts": ts,
        "value": scale.value(value),
    }


@dataclass
class HubSettings:
    queue_rounds: int
    ring_events: int
    coalesce_seconds: float
    retry_ms: int


@dataclass(eq=False)
class Hub:
    engine: AsyncEngine  # autocommit, on the primary: a notify means committed there
    clock: Callable[[], datetime]
    settings: HubSettings
    on_drop: Callable[[str], None] = lambda reason: None
    on_round: Callable[[float], None] = lambda seconds: None
    subscribers: set[Subscriber] = field(default_factory=set)
    available: bool = False  # the listener is connected
    _ring: deque[_Entry] = field(default_factory=deque)
    _by_seq: dict[int, int] = field(default_factory=dict)  # seq → arrival position
    _pos: int = 0
    _gap_pos: int = 1  # resumes from before this position cannot be served: reset
    _served: int = 0  # arrival position the rounds have handled up to
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._rounds(), name="roomtemp-live-rounds")
        RUNNING.add(self)

    async def stop(self, reason: str = "shutdown") -> None:
        self.close_all(reason)
        RUNNING.discard(self)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # ---- the listener's side ----------------------------------------------------------------

    def connected(self) -> None:
        self.available = True

    def lost(self) -> None:
        """The listener's connection broke: notifies of that time are lost. Streams end with a
        retry hint (clients poll meanwhile) and no resume reaches across the gap."""
        self.available = False
        self._gap_pos = self._pos + 1
        self.close_all("live updates interrupted; reconnect later", event="unavailable")

    def receive(self, ann: Announcement) -> None:
        self._pos += 1
        entry = _Entry(self._pos, ann)
        self._ring.append(entry)
        self._by_seq[ann.seq] = self._pos
        while len(self._ring) > self.settings.ring_events:
            old = self._ring.popleft()
            self._by_seq.pop(old.ann.seq, None)
        if self.subscribers:
            self._wake.set()
        else:
            self._served = self._pos

    # ---- subscribers ------------------------------------------------------------------------

    def subscribe(self, sub: Subscriber, last_event_id: str | None) -> list[_Entry] | None:
        """Register `sub`; the ring entries it missed after `last_event_id`, or None when they
        cannot be known (no id, an unknown or too old one): the caller sends a reset."""
        sub.cursor = self._pos
        sub.last_seq = self._ring[-1].ann.seq if self._ring else None
        self.subscribers.add(sub)
        if last_event_id is None or not last_event_id.strip().isdigit():
            return None
        pos = self._by_seq.get(int(last_event_id))
        if pos is None or pos < self._gap_pos:
            return None
        return [e for e in self._ring if e.pos > pos]

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def close_all(self, reason: str, *, event: str = "shutdown") -> None:
        for sub in list(self.subscribers):
            self._close(sub, frame(event, {"reason": reason}))

    def _close(self, sub: Subscriber, last: bytes) -> None:
        self.subscribers.discard(sub)
        while not sub.queue.empty():  # what it had not read yet is dropped with it
            sub.queue.get_nowait()
        retry = f"retry: {self.settings.retry_ms}\n\n".encode()
        sub.queue.put_nowait(Close(retry + last))

    def _push(self, sub: Subscriber, chunk: bytes) -> None:
        if sub not in self.subscribers:
            return
        try:
            sub.queue.put_nowait(chunk)
        except asyncio.QueueFull:
            reason = f"client too slow: more than {self.settings.queue_rounds} updates unread"
            self._close(sub, frame("dropped", {"reason": reason}))
            self.on_drop("slow")

    # ---- events ----------------------------------------------------------------------------

    async def snapshot(self, sub: Subscriber) -> bytes:
        """The `reset` event: the scope's current averages (and the id to resume from)."""
        async with self.engine.connect() as conn:
            rooms = (
                [sub.room_id]
                if sub.room_id is not None
                else await queries.select_room_ids(conn, sub.building_id)
            )
            latest = await averages.rooms_latest(conn, rooms, at=self.clock(), window=WINDOW)
        bodies = [average_body(sub, a) for a in latest if sub.wants_type(a.sensor_type)]
        return frame("reset", {"averages": bodies}, id_=sub.last_seq)

    async def replay(self, sub: Subscriber, missed: list[_Entry]) -> bytes:
        """The events of the notifies `sub` missed (already in the ring), as one chunk."""
        if not missed:
            return b""
        chunks = await self._chunks({sub: missed})
        return chunks.get(sub, b"")

    async def _chunks(self, wanted: dict[Subscriber, list[_Entry]]) -> dict[Subscriber, bytes]:
        """Each subscriber's events for its entries: one statement for the averages of every
        room concerned, one for the names of the captures' sensors if anyone asked for them
        (their values come with the notifies)."""
        room_ids = sorted({r for es in wanted.values() for e in es for r in e.ann.rooms})
        sensor_ids = {
            c[1]
            for sub, es in wanted.items()
            if sub.captures
            for e in es
            for c in e.ann.captures or ()
        }
        buildings = {s.building_id for s in wanted}
        async with self.engine.connect() as conn:
            latest = await averages.rooms_latest(
                conn, room_ids, at=self.clock(), window=WINDOW, building_ids=sorted(buildings)
            )
            names = await queries.select_sensor_names(conn, sorted(sensor_ids))
        rooms = {a.room_id: (a.building, a.stats.room) for a in latest}
        return {sub: self._events_for(sub, es, latest, rooms, names) for sub, es in wanted.items()}

    def _events_for(
        self,
        sub: Subscriber,
        entries: list[_Entry],
        latest: list[averages.LiveRoomAverage],
        rooms: dict[int, tuple[str, str]],
        names: dict[int, queries.SensorNames],
    ) -> bytes:
        changed = {r for e in entries for r in e.ann.rooms if sub.wants_room(r)}
        events: list[tuple[str, dict[str, Any]]] = []
        if sub.captures:
            for e in entries:
                for room_id, sensor_id, ts, value in e.ann.captures or ():
                    where, sensor = rooms.get(room_id), names.get(sensor_id)
                    if where is None or sensor is None or where[0] != sub.building:
                        continue
                    if sub.wants_room(room_id) and sub.wants_type(sensor.sensor_type):
                        events.append(("capture", capture_body(sub, where, sensor, ts, value)))
        events += [
            ("average", average_body(sub, a))
            for a in latest
            if a.room_id in changed and a.building == sub.building and sub.wants_type(a.sensor_type)
        ]
        seq = entries[-1].ann.seq
        sub.cursor = max(sub.cursor, entries[-1].pos)
        sub.last_seq = seq
        if not events:
            return b""
        last = len(events) - 1
        return b"".join(
            frame(name, body, id_=seq if n == last else None)
            for n, (name, body) in enumerate(events)
        )

    async def _rounds(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.settings.coalesce_seconds)  # let a burst join this round
            self._wake.clear()
            entries = [e for e in self._ring if e.pos > self._served]
            if not entries:
                continue
            self._served = entries[-1].pos
            subs = list(self.subscribers)
            wanted = {sub: [e for e in entries if e.pos > sub.cursor] for sub in subs}
            started = time.perf_counter()
            try:
                chunks = await self._chunks({k: v for k, v in wanted.items() if v})
            except Exception as exc:  # the database hiccuped: the next notify tries again
                log.warning(
                    "live round failed (%s: %s); streams end, clients resume",
                    type(exc).__name__,
                    exc,
                )
                for sub in subs:
                    self._close(sub, frame("unavailable", {"reason": "update failed"}))
                continue
            for sub, chunk in chunks.items():
                if chunk:
                    self._push(sub, chunk)
            self.on_round(time.perf_counter() - started)
