"""Initial schema: building, room, sensor_type, capture; seed the temperature sensor type.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "building",
        sa.Column("id", sa.Integer, sa.Identity(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_building"),
        sa.UniqueConstraint("key", name="uq_building_key"),
    )
    op.create_table(
        "room",
        sa.Column("id", sa.Integer, sa.Identity(), nullable=False),
        sa.Column("building_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_room"),
        sa.ForeignKeyConstraint(
            ["building_id"], ["building.id"], name="fk_room_building_id_building"
        ),
        sa.UniqueConstraint("building_id", "key", name="uq_room_building_id_key"),
    )
    sensor_type = op.create_table(
        "sensor_type",
        sa.Column("id", sa.SmallInteger, sa.Identity(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("min_value", sa.Double, nullable=False),
        sa.Column("max_value", sa.Double, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sensor_type"),
        sa.UniqueConstraint("key", name="uq_sensor_type_key"),
        sa.CheckConstraint("min_value < max_value", name="ck_sensor_type_range"),
    )
    op.create_table(
        "capture",
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Double, nullable=False),
        sa.Column("room_id", sa.Integer, nullable=False),
        sa.Column("sensor_type_id", sa.SmallInteger, nullable=False),
        sa.PrimaryKeyConstraint("room_id", "sensor_type_id", "ts", name="pk_capture"),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"], name="fk_capture_room_id_room"),
        sa.ForeignKeyConstraint(
            ["sensor_type_id"], ["sensor_type.id"], name="fk_capture_sensor_type_id_sensor_type"
        ),
    )
    op.bulk_insert(
        sensor_type,
        [
            {
                "key": "temperature",
                "unit": "kelvin",
                # -60 °C … +100 °C: a Celsius reading sent as kelvin (e.g. 21.5 K) falls outside.
                "min_value": 213.15,
                "max_value": 373.15,
                "description": "Air temperature",
            }
        ],
    )


def downgrade() -> None:
    op.drop_table("capture")
    op.drop_table("sensor_type")
    op.drop_table("room")
    op.drop_table("building")
