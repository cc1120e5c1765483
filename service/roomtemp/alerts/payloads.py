"""Webhook bodies and their signature: the Alertmanager webhook v4 form and roomtemp's own JSON.

Both are built from one outbox row (`Due`); the body bytes are produced once per attempt and
signed as sent, so a receiver verifies exactly what it got (docs/alerts.md, Delivery)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson

from roomtemp import units
from roomtemp.alerts.delivery_queries import Due

SIGNATURE_HEADER = "X-Roomtemp-Signature"
TIMESTAMP_HEADER = "X-Roomtemp-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Alertmanager's "zero" endsAt of a firing alert (Go's time.Time{} in RFC 3339).
_ZERO_TIME = "0001-01-01T00:00:00Z"


def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _unit(due: Due) -> str:
    return due.rule_unit or due.canonical_unit


def _in_rule_unit(due: Due, value: float | None) -> float | None:
    """A canonical value in the unit the rule was written in (as GET /v1/alert-rules answers)."""
    if value is None or due.kind == "silent":
        return value
    try:
        return units.convert(value, due.canonical_unit, units.normalise(_unit(due)))
    except units.UnitError:
        return value


def _summary(due: Due) -> str:
    where = f"{due.building}/{due.room}"
    if due.kind == "silent":
        return f"{due.rule}: no {due.sensor_type} capture in {where} for {due.silent_seconds} s"
    unit = _unit(due)
    value = _in_rule_unit(due, due.value)
    threshold = _in_rule_unit(due, due.threshold)
    shown = "unknown" if value is None else f"{value:.2f} {unit}"
    limit = "?" if threshold is None else f"{threshold:.2f} {unit}"
    return (
        f"{due.rule}: {due.sensor_type} mean in {where} {shown}, {due.kind} {limit} "
        f"over {due.window_seconds} s"
    )


def labels(due: Due) -> dict[str, str]:
    return {
        "alertname": due.rule,
        "building": due.building,
        "room": due.room,
        "sensor_type": due.sensor_type,
        "severity": due.severity,
    }


def _uri_component(key: str) -> str:
    # JavaScript's encodeURIComponent, which the dashboard's own links use and whose result its
    # router decodes: UTF-8, everything but A-Z a-z 0-9 - _ . ! ~ * ' ( ) escaped.
    return quote(key, safe="!~*'()")


def room_page(external_url: str, building: str, room: str) -> str:
    """The built-in dashboard's page of a room (its hash route `#/room/{building}/{room}`,
    dashboard/static/app.js) under ALERT_EXTERNAL_URL; "" without one."""
    if not external_url:
        return ""
    return f"{external_url}/#/room/{_uri_component(building)}/{_uri_component(room)}"


def fingerprint(label_set: dict[str, str]) -> str:
    """Stable per label set (rule and room), 16 hex digits like Alertmanager's."""
    canonical = "\x00".join(f"{k}\x01{v}" for k, v in sorted(label_set.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def alertmanager(due: Due, external_url: str) -> dict[str, Any]:
    """The Alertmanager webhook v4 message (prometheus/alertmanager notify/webhook `Message`):
    one alert per notification, grouped by its own labels. Without an external URL, externalURL
    and generatorURL are "", as Alertmanager sends them when it has none."""
    status = "firing" if due.to_state == "firing" else "resolved"
    label_set = labels(due)
    value = _in_rule_unit(due, due.value)
    annotations = {
        "summary": _summary(due),
        "value": "" if value is None else f"{value:.2f}",
        "unit": "" if due.kind == "silent" else _unit(due),
        "reason": due.reason,
        "transition_id": str(due.transition_id),
        "alert_id": str(due.alert_id),
    }
    group_key = "{}:{" + ",".join(f'{k}="{v}"' for k, v in sorted(label_set.items())) + "}"
    alert = {
        "status": status,
        "labels": label_set,
        "annotations": annotations,
        "startsAt": _ts(due.fired_at or due.started_at),
        # A resolution ends at its transition's instant, a firing alert has no end yet.
        "endsAt": _ts(due.at) if status == "resolved" else _ZERO_TIME,
        "generatorURL": room_page(external_url, due.building, due.room),
        "fingerprint": fingerprint(label_set),
    }
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": due.receiver,
        "groupLabels": label_set,
        "commonLabels": label_set,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "alerts": [alert],
    }


def plain(due: Due, external_url: str) -> dict[str, Any]:
    """roomtemp's own form: the transition, the alert as it is now (with the link to its room's
    dashboard page, null without an external URL), and the rule (values in the rule's unit, like
    the API)."""
    return {
        "idempotency_key": due.idempotency_key,
        "transition": {
            "id": due.transition_id,
            "from_state": due.from_state,
            "to_state": due.to_state,
            "at": _ts(due.at),
            "value": _in_rule_unit(due, due.value),
            "window_start": _ts(due.window_start),
            "window_end": _ts(due.window_end),
            "reason": due.reason,
        },
        "alert": {
            "id": due.alert_id,
            "state": due.state,
            "building": due.building,
            "room": due.room,
            "started_at": _ts(due.started_at),
            "fired_at": _ts(due.fired_at),
            "resolved_at": _ts(due.resolved_at),
            "url": room_page(external_url, due.building, due.room) or None,
        },
        "rule": {
            "name": due.rule,
            "kind": due.kind,
            "sensor_type": due.sensor_type,
            "severity": due.severity,
            "threshold": _in_rule_unit(due, due.threshold),
            "clear_threshold": _in_rule_unit(due, due.clear_threshold),
            "unit": None if due.kind == "silent" else _unit(due),
            "window_seconds": due.window_seconds,
            "silent_seconds": due.silent_seconds,
        },
    }


def body(due: Due, external_url: str | None) -> bytes:
    """The body in the receiver's format; `external_url`: ALERT_EXTERNAL_URL (None: unset)."""
    base = external_url or ""
    payload = alertmanager(due, base) if due.format == "alertmanager" else plain(due, base)
    return orjson.dumps(payload)


def signature(secret: str, body_bytes: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the exact body bytes with the receiver's secret."""
    return "sha256=" + hmac.new(secret.encode(), body_bytes, hashlib.sha256).hexdigest()


def headers(due: Due, body_bytes: bytes, now: datetime) -> dict[str, str]:
    out = {
        "Content-Type": "application/json",
        "User-Agent": "roomtemp-alerts",
        IDEMPOTENCY_HEADER: due.idempotency_key,
        TIMESTAMP_HEADER: str(int(now.timestamp())),
    }
    if due.secret:
        out[SIGNATURE_HEADER] = signature(due.secret, body_bytes)
    return out
