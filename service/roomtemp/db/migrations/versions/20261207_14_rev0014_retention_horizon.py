"""Long-term aggregates (issue 23): `retention_horizon`, where each level's data was dropped.

`roomtemp maintain` drops raw captures and each rollup level by its own retention
(RETENTION_DAYS, ROLLUP_15M/1H/1D_RETENTION_DAYS) and records here, per level ('raw', '15m',
'1h', '1d'), the instant before which that level's data is gone (`dropped_before`, only ever
moved forward). Series and reports read it to answer from the rollups where raw captures are
gone (and to refuse a step finer than what is kept), and the rollup recomputations read it to
leave alone every bucket that holds dropped time (docs/data-lifecycle.md).

`sensor_type.comfort_counted_from`: a comfort change recomputes the seconds below/above of the
pieces only where raw captures are kept; the pieces before keep the seconds of the earlier
bounds, so the change records from when the pieces count the current bounds (NULL: all do).

A missing row means nothing of that level was dropped since this revision; drops made by an
earlier `roomtemp maintain` (which removed the rollups with the raw captures) leave nothing to
answer from, so they need no row. On Citus it is a reference table (read by the rollup
statements on every node). Online: a new table no running pod reads. Reversible.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retention_horizon",
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("dropped_before", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("level", name="pk_retention_horizon"),
        sa.CheckConstraint(
            "level IN ('raw', '15m', '1h', '1d')", name="ck_retention_horizon_level"
        ),
    )
    op.add_column(
        "sensor_type",
        sa.Column("comfort_counted_from", sa.DateTime(timezone=True), nullable=True),
    )
    bind = op.get_bind()
    if bind.scalar(sa.text("SELECT count(*) FROM pg_extension WHERE extname = 'citus'")):
        op.execute("SELECT create_reference_table('retention_horizon')")


def downgrade() -> None:
    op.drop_column("sensor_type", "comfort_counted_from")
    op.drop_table("retention_horizon")
