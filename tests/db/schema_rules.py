"""The rules a schema must follow to be sharded by room_id (Citus), checked on a live database.

Fact tables are the tables with a `room_id` column (captures, rollups, latest values); the
dimensions are small tables copied to every node. `violations(conn)` reads the catalog of the
connection's current schema and returns one sentence per broken rule (empty: all kept).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

#: Small tables replicated to every node (Citus reference tables).
DIMENSIONS = frozenset(
    {
        "building",
        "room",
        "sensor_type",
        "sensor",
        "sensor_assignment",  # has a room_id, but is a small history of where sensors are
        "sensor_status",
        "unknown_sensor",
        "retention_horizon",  # read by the rollup statements on every node (0014)
    }
)
#: Bookkeeping, neither fact nor dimension.
IGNORED = frozenset(
    {
        "alembic_version",
        "api_token",  # bookkeeping; a reference table on Citus (migration 0015)
        "api_token_building",  # the buildings of a scoped token (0013), likewise
        # Alerts (0011): the evaluator's bookkeeping, written on the coordinator only; `alert`
        # names a room but is keyed by its own id (an episode), not a fact sharded by room.
        "alert_receiver",
        "alert_rule",
        "alert_rule_receiver",
        "alert",
        "alert_transition",
        "alert_outbox",
        "alert_delivery",
        "alert_evaluation",
        # Deletes (0012): the audit names rooms that may be gone (no foreign key), and the
        # renamed keys are looked up by the coordinator only; local tables there.
        "deletion_audit",
        "renamed_building",
        "renamed_room",
    }
)
DISTRIBUTION_COLUMN = "room_id"


@dataclass
class Column:
    name: str
    type: str
    not_null: bool
    generated_id: bool  # identity or serial (a sequence default)


@dataclass
class Table:
    name: str
    partitioned: bool
    columns: dict[str, Column] = field(default_factory=dict)
    primary_key: list[str] = field(default_factory=list)
    unique_keys: list[list[str]] = field(default_factory=list)  # unique indexes, PK included
    references: list[tuple[list[str], str]] = field(default_factory=list)  # (columns, table)
    partition_key: list[str] = field(default_factory=list)


def load(conn: psycopg.Connection[Any]) -> dict[str, Table]:
    """Tables (not partitions) of the current schema with what the rules need."""
    tables: dict[str, Table] = {}
    for name, kind in conn.execute(
        "SELECT c.relname, c.relkind FROM pg_class c "
        "WHERE c.relnamespace = current_schema()::regnamespace "
        "AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
    ):
        tables[name] = Table(name, partitioned=kind == "p")
    for table, col, typ, not_null, generated in conn.execute(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "a.attidentity <> '' OR coalesce(pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%%' "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE c.relnamespace = current_schema()::regnamespace "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum"
    ):
        if table in tables:
            tables[table].columns[col] = Column(col, typ, not_null, generated)
    for table, is_pk, cols in conn.execute(
        "SELECT c.relname, i.indisprimary, "
        "array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o) "
        "      LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n "
        "      ORDER BY k.o) "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "WHERE i.indisunique AND c.relnamespace = current_schema()::regnamespace"
    ):
        if table in tables:
            if is_pk:
                tables[table].primary_key = list(cols)
            tables[table].unique_keys.append([c for c in cols if c is not None])
    for table, cols, target in conn.execute(
        "SELECT c.relname, array(SELECT a.attname FROM unnest(k.conkey) n "
        "  JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = n), t.relname "
        "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
        "JOIN pg_class t ON t.oid = k.confrelid "
        "WHERE k.contype = 'f' AND c.relnamespace = current_schema()::regnamespace"
    ):
        if table in tables:
            tables[table].references.append((list(cols), target))
    for table, cols in conn.execute(
        "SELECT c.relname, array(SELECT a.attname FROM unnest(p.partattrs) n "
        "  LEFT JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = n) "
        "FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "WHERE c.relnamespace = current_schema()::regnamespace"
    ):
        if table in tables:
            tables[table].partition_key = list(cols)  # None: an expression
    return tables


def fact_tables(tables: dict[str, Table]) -> list[Table]:
    return [
        t
        for n, t in sorted(tables.items())
        if DISTRIBUTION_COLUMN in t.columns and n not in DIMENSIONS and n not in IGNORED
    ]


def violations(conn: psycopg.Connection[Any]) -> list[str]:
    tables = load(conn)
    facts = fact_tables(tables)
    fact_names = {t.name for t in facts}
    found: list[str] = []
    room_id_type = tables["room"].columns["id"].type if "room" in tables else None
    for name in sorted(set(tables) - DIMENSIONS - IGNORED - fact_names):
        found.append(
            f"{name}: neither a dimension ({', '.join(sorted(DIMENSIONS))}) nor a fact table "
            f"(no {DISTRIBUTION_COLUMN} column); classify it"
        )
    for t in facts:
        found.extend(_fact_violations(t, room_id_type, fact_names))
    for name in sorted(DIMENSIONS & set(tables)):
        for cols, target in tables[name].references:
            if target in fact_names:
                found.append(
                    f"{name}: dimension table references fact table {target} ({', '.join(cols)})"
                )
    return found


def _fact_violations(t: Table, room_id_type: str | None, facts: set[str]) -> Iterable[str]:
    room_id = t.columns[DISTRIBUTION_COLUMN]
    if room_id_type is not None and room_id.type != room_id_type:
        yield f"{t.name}: room_id is {room_id.type}, room.id is {room_id_type}; use one type"
    if not room_id.not_null:
        yield f"{t.name}: room_id must be NOT NULL"
    if DISTRIBUTION_COLUMN not in t.primary_key:
        yield f"{t.name}: primary key ({', '.join(t.primary_key) or 'none'}) lacks room_id"
    for key in t.unique_keys:
        if DISTRIBUTION_COLUMN not in key:
            yield f"{t.name}: unique key ({', '.join(key)}) lacks room_id (cannot be sharded)"
    for col in t.columns.values():
        if col.generated_id or col.name == "id":
            yield f"{t.name}: surrogate id column {col.name}; facts are keyed by room and time"
    for cols, target in t.references:
        if target in facts and DISTRIBUTION_COLUMN not in cols:
            yield f"{t.name}: foreign key to fact table {target} without room_id"
        elif target not in facts and target not in DIMENSIONS:
            yield f"{t.name}: foreign key to {target}, which is not a dimension table"
    if t.partitioned:
        part = [t.columns.get(c) for c in t.partition_key]
        if len(part) != 1 or part[0] is None or part[0].type != "timestamp with time zone":
            yield (
                f"{t.name}: partitioned by ({', '.join(map(str, t.partition_key))}); partition "
                "facts by one timestamptz column (retention drops partitions)"
            )
    if t.name == "capture":
        ts = t.columns.get("ts")
        if ts is None or ts.type != "timestamp with time zone" or not ts.not_null:
            yield "capture: needs a plain `ts timestamptz NOT NULL` column"
        elif "ts" not in t.primary_key:
            yield "capture: ts must be in the primary key (partitioning by time needs it)"


def bucket_sql_functions(conn: psycopg.Connection[Any]) -> list[str]:
    """The current schema's SQL functions whose body spells out `date_bin`."""
    rows = conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p "
        "WHERE p.pronamespace = current_schema()::regnamespace "
        "AND coalesce(pg_get_functiondef(p.oid), '') LIKE '%%date_bin%%' ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def bucket_sql_sites(package: Path) -> set[str]:
    """`module:function` of every place outside migrations that spells out `date_bin`.

    Time buckets must come from one function so another engine can get its own spelling.
    """
    sites: set[str] = set()
    for path in sorted(package.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node, owner in _walk(tree, "<module>"):
            if (isinstance(node, ast.Constant) and "date_bin" in str(node.value)) or (
                isinstance(node, ast.Attribute) and node.attr == "date_bin"
            ):
                sites.add(f"{path.relative_to(package.parent)}:{owner}")
    return sites


def _walk(node: ast.AST, owner: str) -> Iterable[tuple[ast.AST, str]]:
    for child in ast.iter_child_nodes(node):
        name = owner
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            name = child.name
        yield child, name
        yield from _walk(child, name)
