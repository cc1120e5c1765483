"""Report rollups: 1-hour rollups become pieces, a 1-day rollup, comfort bounds on sensor types.

capture_rollup_1h gets the piece columns (extremes with their times, first/last capture, time
integral, seconds below/above comfort, longest internal gap; see roomtemp/db/pieces.py) and
capture_rollup_1d holds the same per UTC day. The seconds below/above are counted for
`sensor_type.comfort_low/high` (canonical unit), set here for temperature types to the default
report bounds, 20-24 °C. Both tables are rebuilt from the raw captures during the upgrade, so
they are exact from the start; the downgrade restores the 0004 shape (rolled up from 15 min).

The backfill statements are a frozen copy of the rollup package's rebuild statements as they
were when this migration was written (REBUILD_1H, REBUILD_1D in roomtemp/rollup/queries.py): a
migration must run the same SQL for as long as it exists, whatever the application later does,
so it imports nothing from roomtemp. The comfort bounds are frozen the same way, already
converted to each temperature unit.

On Citus (migration 0005) the two re-created tables are distributed like the others (not tried
here: no Citus package on these machines).

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The settings' default report bounds, 20-24 °C (COMFORT_LOW/HIGH_CELSIUS), per canonical unit.
DEFAULT_COMFORT = {
    "kelvin": (293.15, 297.15),
    "celsius": (20.0, 24.0),
    "fahrenheit": (68.0, 75.2),
}
TABLES = ("capture_rollup_1h", "capture_rollup_1d")
# Longer statements, frozen beside the revisions (Alembic loads only the .py files of versions/).
_SQL = Path(__file__).resolve().parents[1] / "sql"


# Frozen: the pieces from the raw captures in [:start, :end] (1 hour), merged into days (1 day).
_BACKFILL_1H = (_SQL / "0006_backfill_1h.sql").read_text()
_BACKFILL_1D = (_SQL / "0006_backfill_1d.sql").read_text()


def _ts(name: str) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _double(name: str) -> sa.Column[float]:
    return sa.Column(name, sa.Double, nullable=False)


def _keys(name: str) -> list[object]:
    return [
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("room_id", sa.Integer, nullable=False),
        sa.Column("sensor_type_id", sa.SmallInteger, nullable=False),
        sa.PrimaryKeyConstraint("room_id", "sensor_type_id", "bucket", name=f"pk_{name}"),
        sa.ForeignKeyConstraint(["room_id"], ["room.id"], name=f"fk_{name}_room_id_room"),
        sa.ForeignKeyConstraint(
            ["sensor_type_id"], ["sensor_type.id"], name=f"fk_{name}_sensor_type_id_sensor_type"
        ),
    ]


def _pieces(name: str) -> None:
    # 8-byte columns first, then 4, then 2: no alignment padding.
    op.create_table(
        name,
        _ts("bucket"),
        *(_double(c) for c in ("sum", "min", "max")),
        *(_ts(c) for c in ("min_ts", "max_ts", "first_ts")),
        _double("first_value"),
        _ts("last_ts"),
        *(_double(c) for c in ("last_value", "value_seconds", "below_seconds", "above_seconds")),
        _double("gap_seconds"),
        _ts("gap_start"),
        *_keys(name),  # type: ignore[arg-type]
    )
    # The newest bucket is rewritten on every capture: leave room on each page for HOT updates.
    op.execute(f"ALTER TABLE {name} SET (fillfactor = 70)")


def _citus_distribute(names: Sequence[str]) -> None:
    bind = op.get_bind()
    if bind.scalar(sa.text("SELECT count(*) FROM pg_extension WHERE extname = 'citus'")):
        for name in names:
            op.execute(
                sa.text(
                    "SELECT create_distributed_table(:t, 'room_id', colocate_with => 'capture')"
                ).bindparams(t=name)
            )


def upgrade() -> None:
    op.add_column("sensor_type", sa.Column("comfort_low", sa.Double, nullable=True))
    op.add_column("sensor_type", sa.Column("comfort_high", sa.Double, nullable=True))
    for unit, (low, high) in DEFAULT_COMFORT.items():
        op.execute(
            sa.text(
                "UPDATE sensor_type SET comfort_low = :low, comfort_high = :high WHERE unit = :unit"
            ).bindparams(low=low, high=high, unit=unit)
        )
    op.drop_table("capture_rollup_1h")
    for name in TABLES:
        _pieces(name)
    _citus_distribute(TABLES)
    span = op.get_bind().execute(sa.text("SELECT min(ts), max(ts) FROM capture")).one()
    if span[0] is not None:
        for stmt in (_BACKFILL_1H, _BACKFILL_1D):
            op.get_bind().execute(sa.text(stmt), {"start": span[0], "end": span[1]})


def downgrade() -> None:
    op.drop_table("capture_rollup_1d")
    op.drop_table("capture_rollup_1h")
    name = "capture_rollup_1h"
    op.create_table(
        name,
        _ts("bucket"),
        *(_double(c) for c in ("sum", "min", "max")),
        *_keys(name),  # type: ignore[arg-type]
    )
    op.execute(f"ALTER TABLE {name} SET (fillfactor = 70)")
    _citus_distribute([name])
    op.execute(
        """
        INSERT INTO capture_rollup_1h (bucket, sum, min, max, count, room_id, sensor_type_id)
        SELECT roomtemp_bucket(bucket, interval '1 hour') AS b, SUM(sum), MIN(min), MAX(max),
               SUM(count), room_id, sensor_type_id
        FROM capture_rollup_15m GROUP BY room_id, sensor_type_id, b
        """
    )
    op.drop_column("sensor_type", "comfort_high")
    op.drop_column("sensor_type", "comfort_low")
