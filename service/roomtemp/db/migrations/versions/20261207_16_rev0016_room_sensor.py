"""Citus (issue 20): `room_sensor`, every (room, sensor) pair a sensor assignment ever made,
co-located with `capture`.

The statements that need "the newest capture at or before t of each sensor of these rooms" (the
carry-in of a window, the silent-sensor check, the report's and the alerts' edges) read it with a
LATERAL … ORDER BY ts DESC LIMIT 1 per (room, sensor): one backward index step each on plain
PostgreSQL. Citus pushes such a lateral down to the shards only when the relation it is correlated
with is a distributed table joined on the distribution column; `sensor_assignment` is a reference
table (its key is the sensor's, a sensor moves between rooms), so those statements were refused
(`cannot push down this subquery`). `room_sensor` is that relation: the projection
(room_id, sensor_id) of `sensor_assignment`, distributed by room_id like `capture`, written by the
same transactions that write assignments (roomtemp.db.room_sensors) and emptied with them by the
deletes. It is redundant on purpose (derived from `sensor_assignment`, never edited alone);
tests/db/test_room_sensors.py checks that it equals the projection after every kind of write.

Online: a new table no running pod reads; backfilled from `sensor_assignment`. Reversible.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

#: Where the tables of this revision live on Citus (tests/db/test_distribution.py reads it beside
#: 0015's TABLES).
TABLES: dict[str, tuple[str, str]] = {
    "room_sensor": (
        "distributed",
        "the (room, sensor) pairs, the co-located outer side of per-sensor laterals (0016)",
    ),
}


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE room_sensor (
            room_id integer NOT NULL,
            sensor_id integer NOT NULL,
            CONSTRAINT pk_room_sensor PRIMARY KEY (room_id, sensor_id),
            CONSTRAINT fk_room_sensor_room_id_room FOREIGN KEY (room_id) REFERENCES room (id),
            CONSTRAINT fk_room_sensor_sensor_id_sensor
                FOREIGN KEY (sensor_id) REFERENCES sensor (id)
        )
        """
    )
    bind = op.get_bind()
    if bind.scalar(sa.text("SELECT count(*) FROM pg_extension WHERE extname = 'citus'")):
        log.info("0016: room_sensor distributed by room_id, co-located with capture")
        op.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
        op.execute(
            "SELECT create_distributed_table('room_sensor', 'room_id', colocate_with => 'capture')"
        )
    op.execute(
        "INSERT INTO room_sensor (room_id, sensor_id)"
        " SELECT DISTINCT room_id, sensor_id FROM sensor_assignment"
    )


def downgrade() -> None:
    op.drop_table("room_sensor")
