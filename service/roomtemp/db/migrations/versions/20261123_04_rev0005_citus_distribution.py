"""Citus, if installed: dimensions become reference tables, fact tables are sharded by room_id.

A no-op on plain PostgreSQL (it logs that it did nothing). With the `citus` extension present,
`building`, `sensor_type` and `room` are copied to every node (reference tables) and every fact
table (each table with a `room_id` column other than `room`: `capture`, `capture_rollup_*`, ...)
is distributed by `room_id`, co-located with `capture`, so every query that filters one room
runs on one shard with full SQL. The schema's own SQL functions (the time-bucket function) are
propagated to every node, since queries pushed to a shard call them.

Never run against Citus here (no Citus package on these machines): reviewed by hand; see
docs/scaling.md for how to verify it on a Citus cluster. A later migration that adds a fact
table on a Citus cluster must distribute it itself.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-23
"""

import logging
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

#: Referenced before referencing: building and sensor_type before room.
DIMENSIONS = ("building", "sensor_type", "room")
ANCHOR = "capture"  # the fact table every other one is co-located with

Step = tuple[str, dict[str, str]]


def citus_installed(bind: Connection) -> bool:
    return bool(bind.scalar(sa.text("SELECT count(*) FROM pg_extension WHERE extname = 'citus'")))


def fact_tables(bind: Connection) -> list[str]:
    """Tables of the current schema with a room_id column, except `room`; `capture` first."""
    names = bind.scalars(
        sa.text(
            "SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') "
            "AND NOT c.relispartition AND a.attname = 'room_id' AND NOT a.attisdropped "
            "AND c.relname <> 'room' ORDER BY c.relname"
        )
    ).all()
    return sorted(names, key=lambda n: (n != ANCHOR, n))


def dimension_foreign_keys(bind: Connection) -> list[tuple[str, str, str]]:
    """(table, constraint, definition) of the foreign keys between dimension tables."""
    rows = bind.execute(
        sa.text(
            "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
            "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class t ON t.oid = k.confrelid "
            "WHERE k.contype = 'f' AND c.relnamespace = current_schema()::regnamespace "
            "AND c.relname = ANY(:d) AND t.relname = ANY(:d) ORDER BY 1, 2"
        ),
        {"d": list(DIMENSIONS)},
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def functions(bind: Connection) -> list[str]:
    """The current schema's own functions (not an extension's), as regprocedure text."""
    return list(
        bind.scalars(
            sa.text(
                "SELECT p.oid::regprocedure::text FROM pg_proc p "
                "WHERE p.pronamespace = current_schema()::regnamespace AND NOT EXISTS ("
                "  SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass "
                "  AND d.objid = p.oid AND d.deptype = 'e') ORDER BY 1"
            )
        ).all()
    )


def distributed_functions(bind: Connection) -> set[str]:
    return set(
        bind.scalars(
            sa.text(
                "SELECT objid::regprocedure::text FROM pg_dist_object "
                "WHERE classid = 'pg_proc'::regclass"
            )
        ).all()
    )


def distributed_tables(bind: Connection) -> set[str]:
    return set(
        bind.scalars(
            sa.text(
                "SELECT c.relname FROM pg_dist_partition p JOIN pg_class c "
                "ON c.oid = p.logicalrelid WHERE c.relnamespace = current_schema()::regnamespace"
            )
        ).all()
    )


def plan(
    facts: Sequence[str],
    dimension_fks: Sequence[tuple[str, str, str]],
    done: set[str],
    quote: Callable[[str], str],
    funcs: Sequence[str] = (),
) -> list[Step]:
    """The statements that distribute what is not distributed yet, in order."""
    steps: list[Step] = [
        # Hash-distributing a table with a foreign key to a reference table inside a
        # transaction block must happen before any parallel command (Citus' own hint).
        ("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'", {}),
    ]
    # Functions first: a distributed table's queries may call them on any node.
    steps += [("SELECT create_distributed_function(:f)", {"f": f}) for f in funcs if f not in done]
    dimensions = [d for d in DIMENSIONS if d not in done]
    # create_reference_table refuses a table with an identity column and a foreign key to
    # another reference table (citusdata/citus#7036): drop those keys, re-add them after.
    fks = [fk for fk in dimension_fks if fk[0] in dimensions]
    for table, name, _ in fks:
        steps.append((f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}", {}))
    steps += [("SELECT create_reference_table(:t)", {"t": d}) for d in dimensions]
    for table, name, definition in fks:
        steps.append((f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}", {}))
    for fact in facts:
        if fact in done:
            continue
        if fact == ANCHOR:
            steps.append(("SELECT create_distributed_table(:t, 'room_id')", {"t": fact}))
        else:
            steps.append(
                (
                    "SELECT create_distributed_table(:t, 'room_id', colocate_with => :c)",
                    {"t": fact, "c": ANCHOR},
                )
            )
    return steps


def upgrade() -> None:
    bind = op.get_bind()
    if not citus_installed(bind):
        log.info("0005: the citus extension is not installed; nothing to distribute (no-op)")
        return
    facts = fact_tables(bind)
    if ANCHOR not in facts:
        raise RuntimeError(f"0005: no {ANCHOR} table to co-locate the fact tables with")
    quote = bind.dialect.identifier_preparer.quote
    done = distributed_tables(bind) | distributed_functions(bind)
    steps = plan(facts, dimension_foreign_keys(bind), done, quote, functions(bind))
    for statement, params in steps:
        log.info("0005: %s %s", statement, params or "")
        bind.execute(sa.text(statement), params)


def downgrade() -> None:
    bind = op.get_bind()
    if not citus_installed(bind):
        log.info("0005: the citus extension is not installed; nothing to undistribute (no-op)")
        return
    # Each call also undistributes the tables connected to it by foreign keys.
    while remaining := sorted(distributed_tables(bind) & {*fact_tables(bind), *DIMENSIONS}):
        log.info("0005: undistribute_table(%s)", remaining[0])
        bind.execute(
            sa.text("SELECT undistribute_table(:t, cascade_via_foreign_keys => true)"),
            {"t": remaining[0]},
        )
