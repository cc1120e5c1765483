"""All tables (SQLAlchemy Core). The schema itself is created only by the Alembic migrations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

KEY_LENGTH = 64

building = Table(
    "building",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("key", String(KEY_LENGTH), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # IANA zone of the building's day/week/month buckets; NULL: the DEFAULT_TIME_ZONE setting.
    Column("time_zone", Text, nullable=True),
    CheckConstraint("char_length(time_zone) BETWEEN 1 AND 64", name="time_zone_length"),
)

room = Table(
    "room",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("building_id", Integer, ForeignKey("building.id"), nullable=False),
    Column("key", String(KEY_LENGTH), nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("building_id", "key"),
)

sensor_type = Table(
    "sensor_type",
    metadata,
    Column("id", SmallInteger, Identity(), primary_key=True),
    Column("key", String(KEY_LENGTH), nullable=False, unique=True),
    Column("unit", String(KEY_LENGTH), nullable=False),
    Column("min_value", Double, nullable=False),
    Column("max_value", Double, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Canonical unit; the 1-h/1-d rollups count seconds below/above these (rollup.set_comfort).
    Column("comfort_low", Double, nullable=True),
    Column("comfort_high", Double, nullable=True),
    # The pieces count the bounds above from here on (older ones: earlier bounds, their raw
    # captures dropped); NULL: all of them (migration 0014).
    Column("comfort_counted_from", DateTime(timezone=True), nullable=True),
)

# A device that reports captures of one sensor type. `key` is the device id as the device reports
# it; a room's default sensor of a type (what the building/room form of ingest writes to) has no
# key and names its room in `default_room_id` instead. Where a sensor is over time lives in
# sensor_assignment (append-only history).
sensor = Table(
    "sensor",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("key", String(KEY_LENGTH), nullable=True, unique=True),
    Column("sensor_type_id", SmallInteger, ForeignKey("sensor_type.id"), nullable=False),
    Column("default_room_id", Integer, ForeignKey("room.id"), nullable=True),
    Column("name", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("retired_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("default_room_id", "sensor_type_id"),
    CheckConstraint("(key IS NULL) <> (default_room_id IS NULL)", name="key_or_default"),
)

# The sensor is in `room_id` from `valid_from` until its next row's valid_from ('-infinity' first).
sensor_assignment = Table(
    "sensor_assignment",
    metadata,
    Column("valid_from", DateTime(timezone=True), nullable=False),
    Column("sensor_id", Integer, ForeignKey("sensor.id"), nullable=False),
    Column("room_id", Integer, ForeignKey("room.id"), nullable=False, index=True),
    PrimaryKeyConstraint("sensor_id", "valid_from"),
)

# Every (room, sensor) pair of sensor_assignment, kept with it (migration 0016: on Citus the
# distributed relation per-sensor laterals are correlated with; roomtemp.db.room_sensors).
room_sensor = Table(
    "room_sensor",
    metadata,
    Column("room_id", Integer, ForeignKey("room.id"), nullable=False),
    Column("sensor_id", Integer, ForeignKey("sensor.id"), nullable=False),
    PrimaryKeyConstraint("room_id", "sensor_id"),
)

# The latest battery level and signal strength a sensor reported with a capture.
sensor_status = Table(
    "sensor_status",
    metadata,
    Column("reported_at", DateTime(timezone=True), nullable=False),
    Column("battery", Double, nullable=True),
    Column("signal", Double, nullable=True),
    Column("sensor_id", Integer, ForeignKey("sensor.id"), nullable=False),
    PrimaryKeyConstraint("sensor_id"),
)

# Sensor keys that captures named but nobody registered (what an operator registers next).
unknown_sensor = Table(
    "unknown_sensor",
    metadata,
    Column("key", String(KEY_LENGTH), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("refused", BigInteger, nullable=False),
    PrimaryKeyConstraint("key"),
)

# Column order is chosen for alignment: 8-byte columns first, then 4, so a row has no padding.
# The sensor determines the sensor type and the room (at ts, through sensor_assignment); the room
# stays on the row as the room the capture is attributed to, the distribution column on Citus.
capture = Table(
    "capture",
    metadata,
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("value", Double, nullable=False),
    Column("room_id", Integer, ForeignKey("room.id"), nullable=False),
    Column("sensor_id", Integer, ForeignKey("sensor.id"), nullable=False),
    PrimaryKeyConstraint("room_id", "sensor_id", "ts"),
)

# API tokens: only an HMAC of the token is stored; `public_id` is the non-secret part of the
# token used to find the row (the secret part is then compared in constant time).
api_token = Table(
    "api_token",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("public_id", String(32), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("token_hash", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    # True: the token reaches only the buildings in api_token_building (migration 0013).
    Column("building_scoped", Boolean, nullable=False, server_default=text("false")),
)

# The buildings of a scoped token. Deleting a building deletes its rows, which narrows the token
# (building_scoped stays true), never widens it.
api_token_building = Table(
    "api_token_building",
    metadata,
    Column("token_id", Integer, ForeignKey("api_token.id", ondelete="CASCADE"), nullable=False),
    Column(
        "building_id",
        Integer,
        ForeignKey("building.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    PrimaryKeyConstraint("token_id", "building_id"),
)


def _summary(name: str, *between: Column[Any], time: str = "bucket") -> Table:
    """A table of per-bucket summaries of one sensor's captures in one room: the bucket's time
    (`time`), sum, min, max, then `between`, then count and the keys (column order as the
    migrations make it)."""
    return Table(
        name,
        metadata,
        Column(time, DateTime(timezone=True), nullable=False),
        Column("sum", Double, nullable=False),
        Column("min", Double, nullable=False),
        Column("max", Double, nullable=False),
        *between,
        Column("count", Integer, nullable=False),
        Column("room_id", Integer, ForeignKey("room.id"), nullable=False),
        Column("sensor_id", Integer, ForeignKey("sensor.id"), nullable=False),
        PrimaryKeyConstraint("room_id", "sensor_id", time),
    )


def _rollup(name: str) -> Table:
    """sum/min/max/count of the captures with bucket - stride < ts <= bucket (see rollup/):
    keyed by the END, the side of the rolling windows (t - window, t]."""
    # fillfactor 70 is set by the migration (room for HOT updates of the newest bucket)
    return _summary(name)


def _pieces(name: str) -> Table:
    """Rollup pieces (see db/pieces.py), LEFT-closed: the captures with start <= ts < start +
    stride, keyed by the START (migration 0009), the side of report periods and of series
    buckets [t, t + step), so a period or bucket on hour edges is a union of whole pieces."""
    ts = DateTime(timezone=True)
    return _summary(
        name,
        Column("min_ts", ts, nullable=False),
        Column("max_ts", ts, nullable=False),
        Column("first_ts", ts, nullable=False),
        Column("first_value", Double, nullable=False),
        Column("last_ts", ts, nullable=False),
        Column("last_value", Double, nullable=False),
        Column("value_seconds", Double, nullable=False),
        Column("below_seconds", Double, nullable=False),
        Column("above_seconds", Double, nullable=False),
        Column("gap_seconds", Double, nullable=False),
        Column("gap_start", ts, nullable=False),
        time="start",
    )


capture_rollup_15m = _rollup("capture_rollup_15m")
capture_rollup_1h = _pieces("capture_rollup_1h")
capture_rollup_1d = _pieces("capture_rollup_1d")

# Per level ('raw', '15m', '1h', '1d'): data before `dropped_before` was dropped by retention
# (migration 0014, partitions/service.py). No row: nothing of that level dropped.
retention_horizon = Table(
    "retention_horizon",
    metadata,
    Column("level", String(8), primary_key=True),
    Column("dropped_before", DateTime(timezone=True), nullable=False),
    CheckConstraint("level IN ('raw', '15m', '1h', '1d')", name="level"),
)


# Alerts (issue 21, migration 0011; docs/alerts.md). Bookkeeping the evaluator writes: on Citus
# local tables on the coordinator, not facts (tests/db/schema_rules.py).
def _created_updated() -> tuple[Column[Any], Column[Any]]:
    ts = DateTime(timezone=True)
    return (
        Column("created_at", ts, nullable=False, server_default=func.now()),
        Column("updated_at", ts, nullable=False, server_default=func.now()),
    )


alert_receiver = Table(
    "alert_receiver",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("name", String(KEY_LENGTH), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("format", Text, nullable=False, server_default="alertmanager"),
    Column("secret", Text, nullable=True),  # HMAC key: write-only in the API, never logged
    *_created_updated(),
    CheckConstraint("format IN ('alertmanager', 'json')", name="format"),
)

alert_rule = Table(
    "alert_rule",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("name", String(KEY_LENGTH), nullable=False, unique=True),
    Column("building_id", Integer, ForeignKey("building.id"), nullable=False),
    Column("room_id", Integer, ForeignKey("room.id"), nullable=True),  # NULL: every room
    Column("sensor_type_id", SmallInteger, ForeignKey("sensor_type.id"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("threshold", Double, nullable=True),  # canonical unit
    Column("unit", Text, nullable=True),  # the unit the rule was given in (to answer in)
    Column("clear_threshold", Double, nullable=True),  # canonical; NULL: threshold
    Column("window_seconds", Integer, nullable=False, server_default=text("900")),
    Column("for_seconds", Integer, nullable=False, server_default=text("0")),
    Column("clear_after_seconds", Integer, nullable=False, server_default=text("0")),
    Column("silent_seconds", Integer, nullable=True),
    Column("schedule", JSONB, nullable=True),
    Column("severity", Text, nullable=False, server_default="warning"),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    *_created_updated(),
    CheckConstraint("kind IN ('above', 'below', 'silent')", name="kind"),
    CheckConstraint("severity IN ('info', 'warning', 'critical')", name="severity"),
    CheckConstraint(
        "CASE WHEN kind = 'silent' "
        "THEN silent_seconds IS NOT NULL AND threshold IS NULL AND clear_threshold IS NULL "
        "ELSE threshold IS NOT NULL AND silent_seconds IS NULL END",
        name="kind_fields",
    ),
    CheckConstraint(
        "window_seconds > 0 AND for_seconds >= 0 AND clear_after_seconds >= 0 "
        "AND coalesce(silent_seconds, 1) > 0",
        name="durations",
    ),
)

alert_rule_receiver = Table(
    "alert_rule_receiver",
    metadata,
    Column("rule_id", Integer, ForeignKey("alert_rule.id", ondelete="CASCADE"), nullable=False),
    Column(
        "receiver_id",
        Integer,
        ForeignKey("alert_receiver.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    PrimaryKeyConstraint("rule_id", "receiver_id"),
)

alert = Table(
    "alert",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("rule_id", Integer, ForeignKey("alert_rule.id", ondelete="CASCADE"), nullable=False),
    Column("room_id", Integer, ForeignKey("room.id"), nullable=False, index=True),
    Column("state", Text, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),  # condition first true
    Column("fired_at", DateTime(timezone=True), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    # The evaluation instant from which a firing alert has been clear (clear_after_seconds).
    Column("clearing_since", DateTime(timezone=True), nullable=True),
    Column("value", Double, nullable=True),  # the last evaluated value (canonical unit)
    Column("acked_at", DateTime(timezone=True), nullable=True),
    Column("acked_by", Text, nullable=True),
    Column("silenced_until", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("state IN ('pending', 'firing', 'resolved')", name="state"),
    # One open alert per (rule, room).
    Index(
        "uq_alert_open",
        "rule_id",
        "room_id",
        unique=True,
        postgresql_where=text("state <> 'resolved'"),
    ),
)

alert_transition = Table(
    "alert_transition",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column(
        "alert_id",
        BigInteger,
        ForeignKey("alert.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("from_state", Text, nullable=True),
    Column("to_state", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),  # the evaluation instant
    Column("value", Double, nullable=True),
    Column("window_start", DateTime(timezone=True), nullable=True),
    Column("window_end", DateTime(timezone=True), nullable=True),
    Column("reason", Text, nullable=False),
)

alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column(
        "transition_id",
        BigInteger,
        ForeignKey("alert_transition.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column(
        "receiver_id",
        Integer,
        ForeignKey("alert_receiver.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("idempotency_key", Text, nullable=False, unique=True),  # '<transition>-<receiver>'
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("given_up_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Index(
        "ix_alert_outbox_next_attempt_at",
        "next_attempt_at",
        postgresql_where=text("delivered_at IS NULL AND given_up_at IS NULL"),
    ),
)

alert_delivery = Table(
    "alert_delivery",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column(
        "outbox_id",
        BigInteger,
        ForeignKey("alert_outbox.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("status", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_ms", Double, nullable=False),
)

# The evaluation instants done: an instant at or before the last one is a no-op.
alert_evaluation = Table(
    "alert_evaluation",
    metadata,
    Column("at", DateTime(timezone=True), primary_key=True),
    Column("rules", Integer, nullable=False),
    Column("rooms", Integer, nullable=False),
    Column("transitions", Integer, nullable=False),
    Column("seconds", Double, nullable=False),
)


# Deletes with rules (issue 23, migration 0012; docs/data-lifecycle.md#deleting). The deleted
# entity is gone: its ids carry no foreign key, and its keys are as they were at the deletion.
deletion_audit = Table(
    "deletion_audit",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    # NULL: AUTH_REQUIRED was off ("anonymous"); the token's name is read through the key.
    Column("token_public_id", String(32), ForeignKey("api_token.public_id"), nullable=True),
    Column("kind", Text, nullable=False),
    Column("building_id", Integer, nullable=True),
    Column("building_key", String(KEY_LENGTH), nullable=True, index=True),
    Column("room_id", Integer, nullable=True),
    Column("room_key", String(KEY_LENGTH), nullable=True),
    Column("sensor_id", Integer, nullable=True),
    # A registered key, or a default sensor's "{building}/{room}/{type}" (3 keys and 2 slashes).
    Column("sensor_key", String(3 * KEY_LENGTH + 2), nullable=True),
    Column("sensor_type_id", SmallInteger, nullable=True),
    Column("sensor_type_key", String(KEY_LENGTH), nullable=True),
    Column("range_from", DateTime(timezone=True), nullable=True),
    Column("range_to", DateTime(timezone=True), nullable=True),
    Column("captures_deleted", BigInteger, nullable=False),
    CheckConstraint(
        "kind IN ('building', 'room', 'sensor', 'sensor_type', 'captures')", name="kind"
    ),
    CheckConstraint("range_from < range_to", name="range"),
    CheckConstraint("captures_deleted >= 0", name="count"),
)

# A key renamed away points to the building/room that has it now (never auto-registered again).
renamed_building = Table(
    "renamed_building",
    metadata,
    Column("old_key", String(KEY_LENGTH), nullable=False),
    Column(
        "building_id",
        Integer,
        ForeignKey("building.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("renamed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("old_key"),
)

renamed_room = Table(
    "renamed_room",
    metadata,
    Column("building_id", Integer, ForeignKey("building.id", ondelete="CASCADE"), nullable=False),
    Column("old_key", String(KEY_LENGTH), nullable=False),
    Column(
        "room_id", Integer, ForeignKey("room.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("renamed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("building_id", "old_key"),
)
