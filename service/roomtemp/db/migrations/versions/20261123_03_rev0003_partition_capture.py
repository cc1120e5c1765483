"""Partition `capture` by time (declarative RANGE partitions on ts), keeping every row.

The unpartitioned table is renamed, a partitioned `capture` with the same columns, key and
foreign keys is created with one monthly partition per month that holds data plus a DEFAULT
partition (ingest never fails for a timestamp without a partition; `roomtemp maintain` creates
partitions ahead and moves stray rows out of the default). The rows are copied, then the old table
is dropped. Downgrade does the reverse, also keeping every row.

Revision ID: 0003
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = """
    ts timestamptz NOT NULL,
    value double precision NOT NULL,
    room_id integer NOT NULL,
    sensor_type_id smallint NOT NULL,
    CONSTRAINT pk_capture PRIMARY KEY (room_id, sensor_type_id, ts),
    CONSTRAINT fk_capture_room_id_room FOREIGN KEY (room_id) REFERENCES room (id),
    CONSTRAINT fk_capture_sensor_type_id_sensor_type
        FOREIGN KEY (sensor_type_id) REFERENCES sensor_type (id)
"""


def _month_after(start: datetime) -> datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def upgrade() -> None:
    op.execute("ALTER TABLE capture RENAME TO capture_unpartitioned")
    op.execute("ALTER TABLE capture_unpartitioned RENAME CONSTRAINT pk_capture TO pk_capture_old")
    op.execute(f"CREATE TABLE capture ({_COLUMNS}) PARTITION BY RANGE (ts)")
    op.execute("CREATE TABLE capture_default PARTITION OF capture DEFAULT")
    months = op.get_bind().execute(
        sa.text(
            "SELECT DISTINCT date_trunc('month', ts, 'UTC') AS m "
            "FROM capture_unpartitioned ORDER BY m"
        )
    )
    for (month,) in months.all():
        start = month.astimezone(UTC)
        end = _month_after(start)
        # Identifiers and bounds come from timestamps the database returned, not from input.
        op.execute(
            f"CREATE TABLE capture_p{start:%Y%m} PARTITION OF capture "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
    op.execute(
        "INSERT INTO capture (ts, value, room_id, sensor_type_id) "
        "SELECT ts, value, room_id, sensor_type_id FROM capture_unpartitioned"
    )
    op.execute("DROP TABLE capture_unpartitioned")


def downgrade() -> None:
    op.execute("ALTER TABLE capture RENAME TO capture_partitioned")
    op.execute("ALTER TABLE capture_partitioned RENAME CONSTRAINT pk_capture TO pk_capture_old")
    op.execute(f"CREATE TABLE capture ({_COLUMNS})")
    op.execute(
        "INSERT INTO capture (ts, value, room_id, sensor_type_id) "
        "SELECT ts, value, room_id, sensor_type_id FROM capture_partitioned"
    )
    op.execute("DROP TABLE capture_partitioned")
