"""Citus, if installed: every table of the schema classified, the ones added after 0005 placed.

`TABLES` says for each table (not partition) of the schema where it lives on a Citus cluster:
- "reference": small, copied to every node, joined by fact statements on any shard;
- "distributed": a fact table, sharded by room_id, co-located with `capture`;
- "local": on the coordinator only, on purpose (the reason is beside it); statements never join
  it with a fact table (Citus would refuse the join), and Citus makes a table with a foreign key
  to a reference table a "Citus local table" by itself.
tests/db/test_distribution.py fails when a table of the migrated schema is missing here (so a
later migration that adds a table must classify it, and place it on Citus itself), and, on a
Citus cluster (`make citus-test`), when the catalog disagrees.

A no-op on plain PostgreSQL (it logs that it did nothing). With the `citus` extension: the tables
classified "reference" or "distributed" that are not yet are made so (0005 and 0007 placed the
dimensions and facts of their time; `api_token` is new here), in sequential modify mode (as 0005).
Tested on Citus 13.2 (PostgreSQL 15) by `make citus-test`.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

ANCHOR = "capture"  # the fact table every other one is co-located with

#: Where each table lives on Citus, and why (frozen here: a migration imports nothing from
#: roomtemp; tests/db/test_distribution.py compares it with the live catalog).
TABLES: dict[str, tuple[str, str]] = {
    "building": ("reference", "dimension (0005)"),
    "room": ("reference", "dimension (0005)"),
    "sensor_type": ("reference", "dimension (0005)"),
    "sensor": ("reference", "dimension (0007)"),
    "sensor_assignment": ("reference", "where sensors are over time, joined by fact reads (0007)"),
    "sensor_status": ("reference", "a sensor's latest battery and signal (0007)"),
    "unknown_sensor": ("reference", "keys nobody registered (0007)"),
    "api_token": ("reference", "read on every request; any node can authenticate (0015)"),
    "capture": ("distributed", "the raw captures (0005)"),
    "capture_rollup_15m": ("distributed", "rollup (0005)"),
    "capture_rollup_1h": ("distributed", "rollup pieces (0006, rebuilt by 0009)"),
    "capture_rollup_1d": ("distributed", "rollup pieces (0006, rebuilt by 0009)"),
    "alembic_version": ("local", "the migration state, read by the coordinator only"),
    "alert_receiver": ("local", "alert bookkeeping, written by the evaluator on the coordinator"),
    "alert_rule": ("local", "alert bookkeeping (a Citus local table: keys to reference tables)"),
    "alert_rule_receiver": ("local", "alert bookkeeping"),
    "alert": ("local", "one row per episode keyed by its own id, not a fact sharded by room"),
    "alert_transition": ("local", "alert bookkeeping"),
    "alert_outbox": ("local", "delivery queue: FOR UPDATE SKIP LOCKED on the coordinator"),
    "alert_delivery": ("local", "delivery log"),
    "alert_evaluation": ("local", "the evaluator's instants done"),
    "deletion_audit": ("local", "the deletion audit, written and read on the coordinator (0012)"),
    "renamed_building": ("reference", "old building keys, read by key resolution (0012)"),
    "renamed_room": ("reference", "old room keys, read by key resolution (0012)"),
    "api_token_building": ("reference", "a scoped token's buildings, read with it (0013)"),
    "retention_horizon": ("reference", "read by the rollup statements on every shard (0014)"),
}


def citus_installed(bind: Connection) -> bool:
    return bool(bind.scalar(sa.text("SELECT count(*) FROM pg_extension WHERE extname = 'citus'")))


def placed(bind: Connection) -> dict[str, str]:
    """Table -> 'reference', 'distributed' or 'local' (a Citus local table) for the schema's
    tables Citus holds; plain tables are absent."""
    rows = bind.execute(
        sa.text(
            "SELECT c.relname, CASE WHEN p.partmethod = 'h' THEN 'distributed' "
            "WHEN p.repmodel = 't' THEN 'reference' ELSE 'local' END "
            "FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid "
            "WHERE c.relnamespace = current_schema()::regnamespace AND NOT c.relispartition"
        )
    ).all()
    return {r[0]: r[1] for r in rows}


def plan(done: dict[str, str], existing: set[str]) -> list[tuple[str, dict[str, str]]]:
    """The statements that place what is classified but not placed yet, in order."""
    todo = [
        (name, kind)
        for name, (kind, _) in TABLES.items()
        if kind != "local" and name in existing and done.get(name) != kind
    ]
    if not todo:
        return []
    steps: list[tuple[str, dict[str, str]]] = [
        ("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'", {})
    ]
    for name, kind in todo:
        if kind == "reference":
            steps.append(("SELECT create_reference_table(:t)", {"t": name}))
        else:
            steps.append(
                (
                    "SELECT create_distributed_table(:t, 'room_id', colocate_with => :c)",
                    {"t": name, "c": ANCHOR},
                )
            )
    return steps


def _tables(bind: Connection) -> set[str]:
    return set(
        bind.scalars(
            sa.text(
                "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND NOT relispartition "
                "AND relnamespace = current_schema()::regnamespace"
            )
        ).all()
    )


def upgrade() -> None:
    bind = op.get_bind()
    if not citus_installed(bind):
        log.info("0015: the citus extension is not installed; nothing to place (no-op)")
        return
    for statement, params in plan(placed(bind), _tables(bind)):
        log.info("0015: %s %s", statement, params or "")
        bind.execute(sa.text(statement), params)


def downgrade() -> None:
    bind = op.get_bind()
    if not citus_installed(bind):
        log.info("0015: the citus extension is not installed; nothing to undo (no-op)")
        return
    # Only api_token was placed here; the rest belongs to 0005 and 0007.
    if placed(bind).get("api_token") == "reference":
        bind.execute(sa.text("SELECT undistribute_table('api_token')"))
