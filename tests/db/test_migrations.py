"""Migrations: up, down and up again on a fresh database; the seed; the CLI."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

import roomtemp
from roomtemp.db import migrate
from roomtemp.db.tables import metadata


def tables(url: str) -> set[str]:
    info = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(info) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_up_down_up(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    assert {"building", "room", "sensor_type", "capture", "alembic_version"} <= tables(
        empty_database_url
    )
    migrate.downgrade(empty_database_url, "base")
    assert tables(empty_database_url) == {"alembic_version"}
    migrate.upgrade(empty_database_url)
    migrate.upgrade(empty_database_url)  # idempotent
    info = (
        make_url(empty_database_url)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )
    with psycopg.connect(info) as conn:
        seeds = conn.execute("SELECT key, unit, min_value, max_value FROM sensor_type").fetchall()
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert seeds == [("temperature", "kelvin", pytest.approx(213.15), pytest.approx(373.15))]
    assert version == (migrate.head_revision(),)


def test_cli_migrate(empty_database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": empty_database_url}
    done = subprocess.run(
        [sys.executable, "-m", "roomtemp", "migrate"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "capture" in tables(empty_database_url)


def test_cli_help() -> None:
    for args in (["--help"], ["serve", "--help"], ["migrate", "--help"]):
        done = subprocess.run(
            [sys.executable, "-m", "roomtemp", *args], capture_output=True, text=True
        )
        assert done.returncode == 0
        assert "usage: roomtemp" in done.stdout


def test_cli_migrate_without_database_fails_clearly() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DB_HOST")}
    # cwd="/": make roomtemp importable however it is installed (editable .venv, Pants sandbox).
    env["PYTHONPATH"] = str(Path(roomtemp.__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-m", "roomtemp", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        cwd="/",
    )
    assert done.returncode == 2
    assert "no database configured" in done.stderr


def _revisions(path: Path) -> tuple[str, str | None]:
    """A migration file's (revision, down_revision), read from its source without running it."""
    found: dict[str, str | None] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                value = node.value
                assert isinstance(value, ast.Constant), f"{path.name}: {target.id} literal"
                assert value.value is None or isinstance(value.value, str)
                found[target.id] = value.value
    revision = found["revision"]
    assert revision is not None
    return revision, found["down_revision"]


MIGRATION_FILES = sorted(migrate.MIGRATIONS_DIR.glob("versions/*.py"))


def test_file_order_is_chain_order() -> None:
    """Reading the folder in name order is reading the migrations in the order they apply."""
    assert MIGRATION_FILES
    down = None
    for path in MIGRATION_FILES:
        revision, down_revision = _revisions(path)
        assert down_revision == down, f"{path.name} revises {down_revision}, expected {down}"
        down = revision
    assert down == migrate.head_revision()


@pytest.mark.parametrize("path", MIGRATION_FILES, ids=lambda p: p.name)
def test_migrations_import_no_application_code(path: Path) -> None:
    """A migration runs the same SQL for as long as it exists: nothing from roomtemp, whose
    queries and units may change after it was written, may feed it."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        assert not any(n == "roomtemp" or n.startswith("roomtemp.") for n in names), (
            f"{path.name} imports {names}"
        )


def test_tables_match_the_migrated_schema(database_url: str) -> None:
    """db/tables.py describes the schema the migrations build (columns, types, nullability,
    keys, constraints and indexes as Alembic's autogenerate compares them)."""
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            # Partitions of capture (capture_default and the monthly ones the partitions package
            # creates at run time) are storage, not schema: tables.py declares only the parent.
            partitions = set(
                conn.scalars(text("SELECT relname FROM pg_class WHERE relispartition"))
            )

            def include_name(name: str | None, kind: str, parent: object) -> bool:
                return not (kind == "table" and name in partitions)

            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_name": include_name,
                },
            )
            diff = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diff == []
