"""Buildings get an IANA time zone: the zone their day, week and month buckets follow.

NULL means the deployment's default (setting DEFAULT_TIME_ZONE, itself UTC by default), so a
building created before this revision follows the default until an operator sets its zone. The
name is validated by the application (Python's zoneinfo); the database stores it as given.
A column on building: the zone depends on the building alone (third normal form).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Adding a NULL column without a default is a catalog change only: no rewrite, a brief lock.
    op.add_column("building", sa.Column("time_zone", sa.Text, nullable=True))
    op.create_check_constraint(
        "ck_building_time_zone_length", "building", "char_length(time_zone) BETWEEN 1 AND 64"
    )


def downgrade() -> None:
    op.drop_column("building", "time_zone")
