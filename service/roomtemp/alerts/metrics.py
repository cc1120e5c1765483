"""The alerts process's Prometheus metrics, on a registry of its own (its own process and port).

Labels are bounded: building (the registry's buildings) x severity (3) x state (pending,
firing); to_state (3); result (delivered, failed, given_up, skipped). Never a room or a rule: room
alerts are roomtemp's job, not per-room Prometheus series (issue 21)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from roomtemp.alerts.evaluator import Round

SEVERITIES = ("info", "warning", "critical")
OPEN_STATES = ("pending", "firing")
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class AlertMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.alerts = Gauge(
            "roomtemp_alerts",
            "Open alerts by building, severity and state (pending, firing), read from the "
            "database every ALERTS_METRICS_SECONDS: the same on every replica",
            ["building", "severity", "state"],
            registry=r,
        )
        self.evaluation_seconds = Histogram(
            "roomtemp_alert_evaluation_seconds",
            "Duration of the evaluation rounds this process ran (lock to commit)",
            buckets=_SECONDS,
            registry=r,
        )
        self.rounds = Counter(
            "roomtemp_alert_rounds",
            "Evaluation rounds this process ran (done) or left to another replica (skipped); a "
            "failed round is logged and shows as a stalled roomtemp_alert_last_evaluation",
            ["result"],
            registry=r,
        )
        self.transitions = Counter(
            "roomtemp_alert_transitions",
            "Alert state transitions recorded by this process's rounds, by to_state",
            ["to_state"],
            registry=r,
        )
        self.deliveries = Counter(
            "roomtemp_alert_deliveries",
            "Webhook deliveries by this process, by result (delivered, failed, given_up; "
            "skipped: superseded after a silence)",
            ["result"],
            registry=r,
        )
        self.outbox_pending = Gauge(
            "roomtemp_alert_outbox_pending",
            "Notifications in the outbox neither delivered nor given up (from the database)",
            registry=r,
        )
        self.last_evaluation = Gauge(
            "roomtemp_alert_last_evaluation_timestamp_seconds",
            "The latest evaluation instant recorded by any replica (from the database)",
            registry=r,
        )
        self.database_up = Gauge(
            "roomtemp_alert_database_up",
            "0 while the database cannot be read for these metrics",
            registry=r,
        )
        for result in ("done", "skipped"):
            self.rounds.labels(result=result)
        for to_state in ("pending", "firing", "resolved"):
            self.transitions.labels(to_state=to_state)
        for result in ("delivered", "failed", "given_up", "skipped"):
            self.deliveries.labels(result=result)

    def observe_round(self, done: Round) -> None:
        """The evaluator's hook: every round it ran or skipped."""
        if not done.done:
            self.rounds.labels(result="skipped").inc()
            return
        self.rounds.labels(result="done").inc()
        self.evaluation_seconds.observe(done.seconds)
        for to_state in done.to_states:
            self.transitions.labels(to_state=to_state).inc()

    def observe_delivery(self, result: str) -> None:
        """The sender's hook: one notification's result (delivered, failed, given_up, skipped)."""
        self.deliveries.labels(result=result).inc()

    def set_open(
        self, buildings: Iterable[str], counts: Iterable[tuple[str, str, str, int]]
    ) -> None:
        """Every building x severity x open state, zero where nothing is open; buildings
        deleted since the last refresh disappear."""
        values = {(b, s, st): 0 for b in buildings for s in SEVERITIES for st in OPEN_STATES}
        for b, s, st, n in counts:
            values[(b, s, st)] = n
        self.alerts.clear()
        for (b, s, st), n in values.items():
            self.alerts.labels(building=b, severity=s, state=st).set(n)

    def set_last_evaluation(self, at: datetime | None) -> None:
        self.last_evaluation.set(0 if at is None else at.timestamp())
