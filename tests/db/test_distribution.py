"""Every table is classified for Citus (migration 0015's TABLES), and on Citus placed so.

The first test runs on plain PostgreSQL too: it compares the classification with the migrated
schema's catalog, so a migration that adds a table without classifying it fails here. The second
compares the classification with where Citus holds each table (`make citus-test`); on plain
PostgreSQL it checks that there is nothing to compare (no citus extension, 0015 a no-op).
"""

from __future__ import annotations

from typing import Any

import psycopg

from tests.db.migration_files import load_migration, migration_file

MIGRATION = migration_file("0015_citus_tables")


citus = load_migration(MIGRATION, "citus_0015")
# Later revisions classify the tables they add in their own TABLES.
LATER = [load_migration(migration_file("0016_room_sensor"), "room_sensor_0016")]
CLASSIFIED = {**citus.TABLES, **{n: c for m in LATER for n, c in m.TABLES.items()}}
KINDS = {"reference", "distributed", "local"}


def _tables(db: psycopg.Connection[Any]) -> set[str]:
    return {
        r[0]
        for r in db.execute(
            "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND NOT relispartition "
            "AND relnamespace = current_schema()::regnamespace"
        )
    }


def test_every_table_of_the_schema_is_classified(db: psycopg.Connection[Any]) -> None:
    tables = _tables(db)
    unclassified = sorted(tables - set(CLASSIFIED))
    assert not unclassified, (
        f"classify in the adding migration's TABLES (0015: older ones): {unclassified}"
    )
    assert sorted(set(CLASSIFIED) - tables) == [], "classified tables that do not exist"
    for name, (kind, why) in CLASSIFIED.items():
        assert kind in KINDS, name
        assert why.strip(), f"{name}: say why it is {kind}"
    # Fact tables (a room_id column, in the key) are the distributed ones, nothing else.
    facts = {
        r[0]
        for r in db.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_index i ON i.indrelid = c.oid "
            "AND i.indisprimary JOIN pg_attribute a ON a.attrelid = c.oid "
            "AND a.attnum = ANY(i.indkey) AND a.attname = 'room_id' "
            "WHERE c.relnamespace = current_schema()::regnamespace AND NOT c.relispartition"
        )
    }
    assert facts == {n for n, (k, _) in CLASSIFIED.items() if k == "distributed"}


def test_citus_holds_each_table_as_classified(db: psycopg.Connection[Any]) -> None:
    installed = db.execute("SELECT count(*) FROM pg_extension WHERE extname = 'citus'").fetchone()
    assert installed is not None
    if not installed[0]:
        # Plain PostgreSQL: no Citus catalog, nothing placed; 0015 was a no-op.
        assert db.execute("SELECT to_regclass('pg_dist_partition')").fetchone() == (None,)
        return
    held = {
        name: kind
        for name, kind in db.execute(
            "SELECT c.relname, CASE WHEN p.partmethod = 'h' THEN 'distributed' "
            "WHEN p.repmodel = 't' THEN 'reference' ELSE 'local' END "
            "FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid "
            "WHERE c.relnamespace = current_schema()::regnamespace AND NOT c.relispartition"
        )
    }
    for name, (kind, _) in CLASSIFIED.items():
        # A "local" table is a plain one or a Citus local table (one with keys to references).
        assert held.get(name, "local") == kind, (name, held.get(name))
    colocated = db.execute(
        "SELECT count(DISTINCT p.colocationid), min(a.attname) FROM pg_dist_partition p "
        "JOIN pg_class c ON c.oid = p.logicalrelid "
        "JOIN pg_attribute a ON a.attrelid = p.logicalrelid "
        "AND a.attname = column_to_column_name(p.logicalrelid, p.partkey) "
        "WHERE p.partmethod = 'h' AND NOT c.relispartition "
        "AND c.relnamespace = current_schema()::regnamespace"
    ).fetchone()
    assert colocated == (1, "room_id")
