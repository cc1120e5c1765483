"""One evaluation round: every enabled rule at one instant, in ONE transaction under the
evaluation lock. Transitions, outbox rows, alert rows and the instant's record commit together,
so a round is all or nothing and an instant already recorded is never evaluated twice."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roomtemp.alerts import eval_queries as q
from roomtemp.alerts.machine import Open, Outcome, RuleSpec, Schedule, step
from roomtemp.alerts.schedule import parse_schedule

log = logging.getLogger(__name__)

KINDS = ("above", "below", "silent")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def instant(now: datetime, every_seconds: int) -> datetime:
    """The evaluation instant of `now`: the latest multiple of `every_seconds` since the epoch."""
    step_ = timedelta(seconds=every_seconds)
    return _EPOCH + ((now - _EPOCH) // step_) * step_


@dataclass(frozen=True)
class Round:
    at: datetime
    done: bool  # False: skipped (another evaluator holds the lock, or `at` was evaluated)
    transitions: int = 0
    outbox: int = 0
    seconds: float = 0.0
    to_states: tuple[str, ...] = ()


def _spec(row: q.RuleRow, default_zone: str) -> RuleSpec:
    schedule: Schedule | None = None if row.schedule is None else parse_schedule(row.schedule)
    return RuleSpec(
        id=row.id,
        kind=row.kind,  # type: ignore[arg-type]  # the table's CHECK keeps it one of Kind
        threshold=row.threshold,
        clear_threshold=row.clear_threshold,
        window_seconds=row.window_seconds,
        for_seconds=row.for_seconds,
        clear_after_seconds=row.clear_after_seconds,
        silent_seconds=row.silent_seconds,
        schedule=schedule,
        zone=ZoneInfo(row.time_zone or default_zone),
    )


def _open(o: q.Observed) -> Open | None:
    if o.alert_id is None or o.state is None or o.started_at is None:
        return None
    return Open(o.alert_id, o.state, o.started_at, o.fired_at, o.clearing_since)  # type: ignore[arg-type]


class _Writes:
    """The round's writes, collected and then sent in a few bulk statements."""

    def __init__(self, at: datetime) -> None:
        self.at = at
        self.new: list[tuple[q.Observed, RuleSpec, Outcome]] = []
        self.updates: list[dict[str, Any]] = []
        self.transitions: list[dict[str, Any]] = []

    def add(self, o: q.Observed, rule: RuleSpec | None, outcome: Outcome) -> None:
        if o.alert_id is None:
            assert rule is not None  # a new alert comes from a rule
            self.new.append((o, rule, outcome))
            return
        if (outcome.state, outcome.fired_at, outcome.resolved_at, outcome.clearing_since) != (
            o.state,
            o.fired_at,
            None,
            o.clearing_since,
        ):  # an unchanged alert's value was written by `observe`
            self.updates.append(
                {
                    "alert_id": o.alert_id,
                    "state": outcome.state,
                    "fired_at": outcome.fired_at,
                    "resolved_at": outcome.resolved_at,
                    "clearing_since": outcome.clearing_since,
                }
            )
        self._steps(o.alert_id, o, rule, outcome)

    def _steps(self, alert_id: int, o: q.Observed, rule: RuleSpec | None, out: Outcome) -> None:
        start, end = rule.window(self.at) if rule is not None else (None, None)
        for s in out.steps:
            self.transitions.append(
                {
                    "alert_id": alert_id,
                    "from_state": s.from_state,
                    "to_state": s.to_state,
                    "at": self.at,
                    "value": o.value if o.in_scope else None,
                    "window_start": start,
                    "window_end": end,
                    "reason": s.reason,
                }
            )

    async def flush(self, conn: AsyncConnection) -> tuple[list[str], int]:
        ids = await q.insert_alerts(
            conn,
            self.at,
            [
                {
                    "rule_id": o.rule_id,
                    "room_id": o.room_id,
                    "state": out.state,
                    "started_at": out.started_at,
                    "fired_at": out.fired_at,
                    "value": o.value,
                    "updated_at": self.at,
                }
                for o, _, out in self.new
            ],
        )
        for o, rule, out in self.new:
            self._steps(ids[(o.rule_id, o.room_id)], o, rule, out)
        await q.update_alerts(conn, self.at, self.updates)
        transition_ids = await q.insert_transitions(conn, self.at, self.transitions)
        outbox = await q.insert_outbox(conn, transition_ids)
        return [t["to_state"] for t in self.transitions], outbox


async def _evaluate(conn: AsyncConnection, at: datetime, default_zone: str) -> tuple[_Writes, int]:
    rules = {r.id: _spec(r, default_zone) for r in await q.select_enabled_rules(conn)}
    writes = _Writes(at)
    for kind in KINDS:
        for o in await q.observe(conn, kind, at):
            rule = rules.get(o.rule_id) if o.in_scope else None
            outcome = step(rule, _open(o), at, o.value, o.silent)
            if outcome is not None:
                writes.add(o, rule, outcome)
    return writes, len(rules)


async def evaluate_once(engine: AsyncEngine, at: datetime, default_zone: str) -> Round:
    """Evaluate every enabled rule at `at` (one transaction). Skipped when another evaluator
    holds the lock or `at` is not after the last recorded instant."""
    started = time.perf_counter()
    async with engine.begin() as conn:
        if not await q.try_lock(conn):
            return Round(at, done=False)
        last = await q.last_evaluation(conn)
        if last is not None and at <= last:
            return Round(at, done=False)
        writes, rules = await _evaluate(conn, at, default_zone)
        to_states, outbox = await writes.flush(conn)
        seconds = time.perf_counter() - started
        await q.record_evaluation(
            conn, at, rules, await q.count_pairs(conn), len(to_states), seconds
        )
    log.info(
        "alerts evaluated at %s: %d rule(s), %d transition(s), %d delivery(ies) queued, %.3f s",
        at.isoformat(),
        rules,
        len(to_states),
        outbox,
        seconds,
    )
    return Round(at, True, len(to_states), outbox, seconds, tuple(to_states))
