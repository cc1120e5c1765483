"""An independent reference of alert evaluation: a plain-Python state machine over the captures.

It shares no code with roomtemp.alerts: it computes each room's rolling mean itself from the raw
values it was given (those that had arrived by the evaluation instant), converts thresholds with
its own formulas, reads schedules as wall-clock strings, and keeps its own state per
(rule, room). Its transitions are what the evaluator must record, instant by instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def kelvin(value: float, unit: str) -> float:
    if unit == "celsius":
        return value + 273.15
    if unit == "fahrenheit":
        return (value - 32.0) * 5.0 / 9.0 + 273.15
    assert unit == "kelvin"
    return value


@dataclass(frozen=True)
class Capture:
    room: str
    ts: datetime
    value: float  # kelvin
    arrives: datetime  # the first evaluation instant that sees it


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    rooms: tuple[str, ...]
    threshold: float | None = None  # kelvin
    clear_threshold: float | None = None  # kelvin
    window: int = 900
    for_s: int = 0
    clear_after: int = 0
    silent_s: int | None = None
    days: tuple[int, ...] | None = None  # schedule: ISO weekdays, "HH:MM" strings
    start: str = "00:00"
    end: str = "24:00"
    created: datetime | None = None


@dataclass(frozen=True)
class Transition:
    rule: str
    room: str
    from_state: str | None
    to_state: str
    at: datetime
    value: float | None


@dataclass
class _Open:
    state: str
    started: datetime
    clearing: datetime | None = None


@dataclass
class Reference:
    zone: ZoneInfo
    rules: list[Rule]
    captures: list[Capture] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    open: dict[tuple[str, str], _Open] = field(default_factory=dict)

    def _seen(self, room: str, at: datetime) -> list[Capture]:
        return [c for c in self.captures if c.room == room and c.arrives <= at and c.ts <= at]

    def _mean(self, room: str, at: datetime, window: int) -> float | None:
        start = at - timedelta(seconds=window)
        values = [c.value for c in self._seen(room, at) if c.ts > start]
        if not values:
            return None
        total = 0.0
        for v in values:
            total += v
        return total / len(values)

    def _silence(self, rule: Rule, room: str, at: datetime) -> tuple[bool, float | None]:
        seen = self._seen(room, at)
        last = max((c.ts for c in seen), default=None)
        assert rule.silent_s is not None
        assert rule.created is not None
        since = last if last is not None else rule.created
        silent = (at - since).total_seconds() >= rule.silent_s
        return silent, None if last is None else (at - last).total_seconds()

    def _scheduled(self, rule: Rule, at: datetime) -> bool:
        if rule.days is None:
            return True
        local = at.astimezone(self.zone)
        wall = local.strftime("%H:%M")
        return local.isoweekday() in rule.days and rule.start <= wall < rule.end

    def _note(
        self, rule: Rule, room: str, frm: str | None, to: str, at: datetime, v: float | None
    ) -> None:
        self.transitions.append(Transition(rule.name, room, frm, to, at, v))

    def evaluate(self, at: datetime) -> None:
        for rule in self.rules:
            for room in rule.rooms:
                self._one(rule, room, at)

    def _one(self, rule: Rule, room: str, at: datetime) -> None:
        key = (rule.name, room)
        current = self.open.get(key)
        if rule.kind == "silent":
            silent, value = self._silence(rule, room, at)
            hot: bool | None = silent
            cool: bool | None = not silent
        else:
            value = self._mean(room, at, rule.window)
            assert rule.threshold is not None
            clear_at = rule.threshold if rule.clear_threshold is None else rule.clear_threshold
            if value is None:
                hot = cool = None
            elif rule.kind == "above":
                hot, cool = value > rule.threshold, value <= clear_at
            else:
                hot, cool = value < rule.threshold, value >= clear_at
        if not self._scheduled(rule, at):
            if current is not None:
                self._note(rule, room, current.state, "resolved", at, value)
                del self.open[key]
            return
        if current is None:
            if hot:
                self._note(rule, room, None, "pending", at, value)
                self.open[key] = current = _Open("pending", at)
                if rule.for_s == 0:
                    self._note(rule, room, "pending", "firing", at, value)
                    current.state = "firing"
            return
        if current.state == "pending":
            if hot is False:
                self._note(rule, room, "pending", "resolved", at, value)
                del self.open[key]
            elif hot and (at - current.started).total_seconds() >= rule.for_s:
                self._note(rule, room, "pending", "firing", at, value)
                current.state = "firing"
            return
        if cool is None:
            return
        if not cool:
            current.clearing = None
            return
        if current.clearing is None:
            current.clearing = at
        if (at - current.clearing).total_seconds() >= rule.clear_after:
            self._note(rule, room, "firing", "resolved", at, value)
            del self.open[key]
