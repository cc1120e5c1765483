"""Rollups: capture_rollup_15m and capture_rollup_1h (sum, count, min, max), the bucket function.

Existing captures are rolled up during the upgrade, so the tables are exact from the start.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The END of the bucket holding ts: buckets are (end - stride, end], aligned to the Unix epoch,
# the same side as the API's rolling windows. The one place that knows how to bucket time.
BUCKET_FUNCTION = """
CREATE FUNCTION roomtemp_bucket(ts timestamptz, stride interval) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN date_bin(stride, ts - interval '1 microsecond', timestamptz '1970-01-01 00:00:00+00')
       + stride
"""


def _rollup(name: str) -> None:
    op.create_table(
        name,
        # 8-byte columns first, then 4, then 2: no alignment padding.
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sum", sa.Double, nullable=False),
        sa.Column("min", sa.Double, nullable=False),
        sa.Column("max", sa.Double, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("room_id", sa.Integer, nullable=False),
        sa.Column("sensor_type_id", sa.SmallInteger, nullable=False),
        sa.PrimaryKeyConstraint("room_id", "sensor_type_id", "bucket", name=f"pk_{name}"),
        # Facts reference the dimensions; TRUNCATE room CASCADE reaches the rollups too.
        sa.ForeignKeyConstraint(["room_id"], ["room.id"], name=f"fk_{name}_room_id_room"),
        sa.ForeignKeyConstraint(
            ["sensor_type_id"], ["sensor_type.id"], name=f"fk_{name}_sensor_type_id_sensor_type"
        ),
    )
    # The newest bucket is rewritten on every capture: leave room on each page for HOT updates.
    op.execute(f"ALTER TABLE {name} SET (fillfactor = 70)")


def upgrade() -> None:
    op.execute(BUCKET_FUNCTION)
    _rollup("capture_rollup_15m")
    _rollup("capture_rollup_1h")
    op.execute(
        """
        INSERT INTO capture_rollup_15m (bucket, sum, min, max, count, room_id, sensor_type_id)
        SELECT roomtemp_bucket(ts, interval '15 minutes') AS b, SUM(value), MIN(value),
               MAX(value), COUNT(*), room_id, sensor_type_id
        FROM capture GROUP BY room_id, sensor_type_id, b
        """
    )
    op.execute(
        """
        INSERT INTO capture_rollup_1h (bucket, sum, min, max, count, room_id, sensor_type_id)
        SELECT roomtemp_bucket(bucket, interval '1 hour') AS b, SUM(sum), MIN(min), MAX(max),
               SUM(count), room_id, sensor_type_id
        FROM capture_rollup_15m GROUP BY room_id, sensor_type_id, b
        """
    )


def downgrade() -> None:
    op.drop_table("capture_rollup_1h")
    op.drop_table("capture_rollup_15m")
    op.execute("DROP FUNCTION roomtemp_bucket(timestamptz, interval)")
