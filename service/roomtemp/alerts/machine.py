"""The alert state machine of one (rule, room) at one evaluation instant: pure Python, no I/O.

none → pending (condition true) → firing (true for ≥ for_seconds; with for_seconds 0 in the same
evaluation, both transitions recorded) → resolved (clear for ≥ clear_after_seconds). A pending
alert whose condition turns false resolves without firing. An unknown condition (no capture in
the window) neither starts, advances nor clears anything. docs/alerts.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Kind = Literal["above", "below", "silent"]
State = Literal["pending", "firing", "resolved"]

# Reasons recorded on transitions.
CONDITION = "condition"  # → pending, → firing
NOT_MET = "not_met"  # pending → resolved: the condition turned false before firing
CLEAR = "clear"  # firing → resolved: clear for clear_after_seconds
SCHEDULE = "schedule"  # open → resolved: outside the rule's schedule
RULE = "rule"  # open → resolved: rule disabled, or the room no longer in its scope


@dataclass(frozen=True)
class Schedule:
    """ISO weekdays (1 = Monday) and a local time range [start, end) in the building's zone."""

    days: frozenset[int]
    start: time
    end: time | None  # None: until midnight ("24:00")

    def contains(self, at: datetime, zone: ZoneInfo) -> bool:
        local = at.astimezone(zone)
        if local.isoweekday() not in self.days:
            return False
        wall = local.time().replace(tzinfo=None)
        return self.start <= wall and (self.end is None or wall < self.end)


@dataclass(frozen=True)
class RuleSpec:
    id: int
    kind: Kind
    threshold: float | None
    clear_threshold: float | None
    window_seconds: int
    for_seconds: int
    clear_after_seconds: int
    silent_seconds: int | None
    schedule: Schedule | None
    zone: ZoneInfo

    def trigger(self, value: float | None, silent: bool) -> bool | None:
        """The condition; None when unknown (no capture in the window)."""
        if self.kind == "silent":
            return silent
        if value is None or self.threshold is None:
            return None
        return value > self.threshold if self.kind == "above" else value < self.threshold

    def clear(self, value: float | None, silent: bool) -> bool | None:
        """Past the clear threshold (hysteresis); None when unknown."""
        if self.kind == "silent":
            return not silent
        if value is None or self.threshold is None:
            return None
        bound = self.threshold if self.clear_threshold is None else self.clear_threshold
        return value <= bound if self.kind == "above" else value >= bound

    def window(self, at: datetime) -> tuple[datetime, datetime]:
        seconds = self.silent_seconds if self.kind == "silent" else self.window_seconds
        return at - timedelta(seconds=seconds or 0), at


@dataclass(frozen=True)
class Open:
    """An open alert as stored."""

    id: int
    state: State
    started_at: datetime
    fired_at: datetime | None
    clearing_since: datetime | None


@dataclass(frozen=True)
class Step:
    from_state: State | None
    to_state: State
    reason: str


@dataclass(frozen=True)
class Outcome:
    """What one evaluation does to one (rule, room): the alert's new fields and its steps."""

    state: State
    started_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    clearing_since: datetime | None
    steps: list[Step] = field(default_factory=list)


def _resolve(alert: Open, at: datetime, reason: str) -> Outcome:
    return Outcome(
        "resolved",
        alert.started_at,
        alert.fired_at,
        at,
        alert.clearing_since,
        [Step(alert.state, "resolved", reason)],
    )


def _start(rule: RuleSpec, at: datetime) -> Outcome:
    steps = [Step(None, "pending", CONDITION)]
    if rule.for_seconds == 0:
        steps.append(Step("pending", "firing", CONDITION))
        return Outcome("firing", at, at, None, None, steps)
    return Outcome("pending", at, None, None, None, steps)


def _unchanged(alert: Open) -> Outcome:
    return Outcome(alert.state, alert.started_at, alert.fired_at, None, alert.clearing_since, [])


def _pending(rule: RuleSpec, alert: Open, at: datetime, trigger: bool | None) -> Outcome:
    if trigger is False:
        return _resolve(alert, at, NOT_MET)
    if trigger and at - alert.started_at >= timedelta(seconds=rule.for_seconds):
        return Outcome(
            "firing", alert.started_at, at, None, None, [Step("pending", "firing", CONDITION)]
        )
    return _unchanged(alert)


def _firing(rule: RuleSpec, alert: Open, at: datetime, clear: bool | None) -> Outcome:
    if clear is None:
        return _unchanged(alert)
    if not clear:
        return replace(_unchanged(alert), clearing_since=None)
    since = alert.clearing_since or at
    if at - since >= timedelta(seconds=rule.clear_after_seconds):
        return _resolve(replace(alert, clearing_since=since), at, CLEAR)
    return replace(_unchanged(alert), clearing_since=since)


def step(
    rule: RuleSpec | None,
    alert: Open | None,
    at: datetime,
    value: float | None,
    silent: bool,
) -> Outcome | None:
    """The outcome at `at`; None: nothing to store (no alert, none starts). `rule` None: the
    room is no longer in an enabled rule's scope."""
    if rule is None:
        return None if alert is None else _resolve(alert, at, RULE)
    if rule.schedule is not None and not rule.schedule.contains(at, rule.zone):
        return None if alert is None else _resolve(alert, at, SCHEDULE)
    trigger = rule.trigger(value, silent)
    if alert is None:
        return _start(rule, at) if trigger else None
    if alert.state == "pending":
        return _pending(rule, alert, at, trigger)
    return _firing(rule, alert, at, rule.clear(value, silent))
