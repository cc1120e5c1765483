"""Migration 0005 (Citus): a logged no-op on plain PostgreSQL; its plan, checked line by line.

Citus itself is not installable on these machines, so the statements are checked as text against
the live schema's facts, never executed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url

from roomtemp.db import migrate
from tests.db.migration_files import load_migration, migration_file

MIGRATION = migration_file("0005_citus_distribution")


citus = load_migration(MIGRATION, "citus_0005")


def quote(name: str) -> str:
    return f'"{name}"'


def test_plan_references_dimensions_and_colocates_facts() -> None:
    fk = (
        "room",
        "fk_room_building_id_building",
        "FOREIGN KEY (building_id) REFERENCES building(id)",
    )
    facts = ["capture", "capture_rollup_1h", "capture_rollup_15m"]
    bucket = "roomtemp_bucket(timestamp with time zone,interval)"
    steps = citus.plan(facts, [fk], set(), quote, [bucket])
    assert steps == [
        ("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'", {}),
        ("SELECT create_distributed_function(:f)", {"f": bucket}),
        ('ALTER TABLE "room" DROP CONSTRAINT "fk_room_building_id_building"', {}),
        ("SELECT create_reference_table(:t)", {"t": "building"}),
        ("SELECT create_reference_table(:t)", {"t": "sensor_type"}),
        ("SELECT create_reference_table(:t)", {"t": "room"}),
        (
            'ALTER TABLE "room" ADD CONSTRAINT "fk_room_building_id_building" '
            "FOREIGN KEY (building_id) REFERENCES building(id)",
            {},
        ),
        ("SELECT create_distributed_table(:t, 'room_id')", {"t": "capture"}),
        (
            "SELECT create_distributed_table(:t, 'room_id', colocate_with => :c)",
            {"t": "capture_rollup_1h", "c": "capture"},
        ),
        (
            "SELECT create_distributed_table(:t, 'room_id', colocate_with => :c)",
            {"t": "capture_rollup_15m", "c": "capture"},
        ),
    ]


def test_plan_skips_what_is_distributed_already() -> None:
    done = {"building", "sensor_type", "room", "capture"}
    steps = citus.plan(["capture", "capture_rollup_1h"], [], done, quote)
    assert [s[1] for s in steps[1:]] == [{"t": "capture_rollup_1h", "c": "capture"}]


@pytest.mark.single_node(
    "reads 0005's plan off a schema that 0005 has not distributed (asserts no citus extension)"
)
def test_discovery_on_the_live_schema(database_url: str) -> None:
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            facts = citus.fact_tables(conn)
            assert facts[0] == "capture"
            assert "room" not in facts
            # sensor_assignment (0007) has a room_id too, but 0005 runs before it exists; 0007
            # makes it a reference table itself.
            # alert and alert_rule (0011) name rooms but are coordinator bookkeeping, created
            # after 0005 and never distributed (tests/db/schema_rules.py IGNORED); so are the
            # deletion audit and the renamed rooms (0012).
            # room_sensor (0016) is a fact table, distributed by its own migration.
            local = (
                "sensor_assignment",
                "alert",
                "alert_rule",
                "deletion_audit",
                "renamed_room",
                "room_sensor",
            )
            rest = [f for f in facts if f not in local]
            assert all(f == "capture" or f.startswith("capture_") for f in rest), facts
            assert citus.dimension_foreign_keys(conn) == [
                (
                    "room",
                    "fk_room_building_id_building",
                    "FOREIGN KEY (building_id) REFERENCES building(id)",
                )
            ]
            assert not citus.citus_installed(conn)
            assert all(f.startswith("roomtemp_") for f in citus.functions(conn))
    finally:
        engine.dispose()


@pytest.fixture
def scratch_url(conninfo: str, database_url: str) -> Iterator[str]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS roomtemp_citus_noop")
        conn.execute("CREATE DATABASE roomtemp_citus_noop")
    yield (
        make_url(database_url)
        .set(database="roomtemp_citus_noop")
        .render_as_string(hide_password=False)
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP DATABASE roomtemp_citus_noop WITH (FORCE)")


def test_noop_without_citus_says_so(scratch_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="alembic.runtime.migration"):
        migrate.upgrade(scratch_url, "0005")
        migrate.downgrade(scratch_url, "0003")
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        "citus extension is not installed; nothing to distribute (no-op)" in m for m in messages
    )
    assert any("nothing to undistribute (no-op)" in m for m in messages)
