"""The live, migrated schema keeps the rules for sharding by room_id; breaking one fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.db.schema_rules import bucket_sql_functions, bucket_sql_sites, load, violations
from tests.threads import on_fresh_thread

PACKAGE = Path(__file__).resolve().parents[2] / "service" / "roomtemp"


def test_live_schema_keeps_the_rules(conninfo: str) -> None:
    with psycopg.connect(conninfo) as conn:
        assert violations(conn) == []
        tables = load(conn)
    # The checker sees the schema it claims to check.
    assert {"building", "room", "sensor_type", "capture"} <= set(tables)
    assert tables["capture"].primary_key[0] == "room_id"


BROKEN = {
    "surrogate key": (
        "CREATE TABLE reading (id bigserial PRIMARY KEY, "
        "room_id integer NOT NULL REFERENCES room (id), ts timestamptz NOT NULL)",
        ["reading: primary key (id) lacks room_id", "reading: surrogate id column id"],
    ),
    "room_id of another type": (
        "CREATE TABLE latest (room_id bigint NOT NULL, sensor_type_id smallint NOT NULL, "
        "ts timestamptz NOT NULL, PRIMARY KEY (room_id, sensor_type_id))",
        ["latest: room_id is bigint, room.id is integer"],
    ),
    "unclassified table": (
        "CREATE TABLE audit_log (at timestamptz NOT NULL, what text)",
        ["audit_log: neither a dimension"],
    ),
    "unique key without room_id": (
        "CREATE TABLE capture_rollup_bad (room_id integer NOT NULL, ts timestamptz NOT NULL, "
        "seq integer NOT NULL UNIQUE, PRIMARY KEY (room_id, ts))",
        ["capture_rollup_bad: unique key (seq) lacks room_id"],
    ),
    "dimension referencing a fact": (
        "ALTER TABLE building ADD COLUMN r integer, ADD COLUMN s integer, "
        "ADD COLUMN t timestamptz, "
        "ADD FOREIGN KEY (r, s, t) REFERENCES capture (room_id, sensor_id, ts)",
        ["building: dimension table references fact table capture"],
    ),
    "partitioned by room": (
        "CREATE TABLE capture_by_room (room_id integer NOT NULL, ts timestamptz NOT NULL, "
        "PRIMARY KEY (room_id, ts)) PARTITION BY HASH (room_id)",
        ["capture_by_room: partitioned by (room_id)"],
    ),
    "latest values without a key on room_id": (
        "CREATE TABLE room_latest (room_id integer, sensor_type_id smallint NOT NULL, "
        "ts timestamptz NOT NULL, value double precision NOT NULL, "
        "UNIQUE (room_id, sensor_type_id))",
        ["room_latest: room_id must be NOT NULL", "room_latest: primary key (none) lacks room_id"],
    ),
}


# Citus refuses this broken schema itself (a reference table cannot reference a distributed
# one). The checker reads the catalogs, which are the same on the coordinator: the case builds
# the schema there alone, with Citus' DDL handling off for its (rolled back) transaction. On
# plain PostgreSQL `citus.*` is an unknown custom setting, which SET LOCAL takes and ignores.
_COORDINATOR_ONLY = {"dimension referencing a fact"}
_NO_CITUS_DDL = "SET LOCAL citus.enable_ddl_propagation TO off"


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_rule_is_reported(conninfo: str, db: psycopg.Connection[Any], case: str) -> None:
    # `db` empties the tables first: a new primary key must not trip over other tests' rows.
    ddl, expected = BROKEN[case]
    with psycopg.connect(conninfo) as conn:  # one transaction, rolled back at the end
        if case in _COORDINATOR_ONLY:
            conn.execute(_NO_CITUS_DDL)
        conn.execute(ddl)
        found = violations(conn)
        conn.rollback()
    for sentence in expected:
        assert any(v.startswith(sentence) for v in found), (sentence, found)


def test_time_buckets_are_spelled_in_one_function(conninfo: str) -> None:
    sites = on_fresh_thread(bucket_sql_sites, PACKAGE)
    assert len(sites) <= 1, f"date_bin spelled out in several places: {sorted(sites)}"
    with psycopg.connect(conninfo) as conn:
        functions = bucket_sql_functions(conn)
        assert len(functions) <= 1, f"date_bin in several SQL functions: {functions}"
        conn.execute(
            "CREATE FUNCTION other_bucket(ts timestamptz) RETURNS timestamptz LANGUAGE sql "
            "IMMUTABLE RETURN date_bin(interval '5 minutes', ts, timestamptz 'epoch')"
        )
        assert "other_bucket(timestamp with time zone)" in bucket_sql_functions(conn)
        conn.rollback()


def test_bucket_sites_are_found(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("def one():\n    return 'SELECT date_bin(...)'\n")
    (pkg / "b.py").write_text("from sqlalchemy import func\ndef two():\n    return func.date_bin\n")
    assert on_fresh_thread(bucket_sql_sites, pkg) == {"pkg/a.py:one", "pkg/b.py:two"}
