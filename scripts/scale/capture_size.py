"""Bytes per capture: the live capture table vs a bigint room_id variant, 1M rows.

Usage: PYTHONPATH=. .venv/bin/python scripts/scale/capture_size.py (a throwaway database).
Rows arrive in time order (all rooms each minute), as sensors send them; `--key-order` loads
them sorted by primary key instead (what a rebuilt or CLUSTERed table looks like).
"""

from __future__ import annotations

import sys

import psycopg

from roomtemp.db import migrate
from tests.postgres_provider import libpq_conninfo, provide_database_url, sqlalchemy_url

ROOMS, MINUTES = 1000, 1000  # 1,000,000 captures
INT8 = """CREATE TABLE capture_int8 (
    ts timestamptz NOT NULL, value double precision NOT NULL,
    room_id bigint NOT NULL, sensor_id integer NOT NULL,
    PRIMARY KEY (room_id, sensor_id, ts))"""
# The rollup tables as the performance branch's migration 0004 defines them (fillfactor 70).
ROLLUP = """CREATE TABLE {name} (
    bucket timestamptz NOT NULL, sum double precision NOT NULL, min double precision NOT NULL,
    max double precision NOT NULL, count integer NOT NULL, room_id integer NOT NULL,
    sensor_id integer NOT NULL, PRIMARY KEY (room_id, sensor_id, bucket))
    WITH (fillfactor = 70)"""
FILL = """INSERT INTO {name} SELECT
    date_bin(interval '{stride}', ts - interval '1 microsecond', timestamptz 'epoch')
        + interval '{stride}' AS b,
    sum(value), min(value), max(value), count(*), room_id, sensor_id
    FROM capture GROUP BY b, room_id, sensor_id ORDER BY b, room_id"""
# Summed over the partitions: a partitioned table's own relation is empty.
SIZES = """SELECT sum(pg_relation_size(relid)), sum(pg_indexes_size(relid)),
    sum(pg_total_relation_size(relid))
    FROM (SELECT relid FROM pg_partition_tree(%(t)s) UNION SELECT %(t)s::regclass) AS r"""


def main(key_order: bool) -> None:
    order = "r, m" if key_order else "m, r"
    with provide_database_url() as url:
        migrate.upgrade(url)
        with psycopg.connect(libpq_conninfo(sqlalchemy_url(url)), autocommit=True) as c:
            c.execute("INSERT INTO building (key, name) VALUES ('b', 'b')")
            c.execute(
                "INSERT INTO room (building_id, key, name) "
                "SELECT 1, g::text, g::text FROM generate_series(1, %s) g",
                (ROOMS,),
            )
            # Each room's default temperature sensor: sensor id = room id.
            c.execute(
                "INSERT INTO sensor (sensor_type_id, default_room_id) "
                "SELECT 1, id FROM room ORDER BY id"
            )
            c.execute(
                "INSERT INTO capture (ts, value, room_id, sensor_id) "  # noqa: S608 - ORDER BY one of two constants
                "SELECT timestamptz '2026-01-01' + m * interval '1 minute', 290 + random(), r, r "
                "FROM generate_series(1, %s) m, generate_series(1, %s) r "
                f"ORDER BY {order}",
                (MINUTES, ROOMS),
            )
            c.execute(INT8)
            c.execute(
                "INSERT INTO capture_int8 SELECT * FROM capture "  # noqa: S608 - constants only
                + ("ORDER BY room_id, ts" if key_order else "ORDER BY ts, room_id")
            )
            for name, stride in (("rollup_15m", "15 minutes"), ("rollup_1h", "1 hour")):
                c.execute(ROLLUP.format(name=name))
                c.execute(FILL.format(name=name, stride=stride))
            for table in ("capture", "capture_int8", "rollup_15m", "rollup_1h"):
                c.execute(f"VACUUM ANALYZE {table}")
                row = c.execute(SIZES, {"t": table}).fetchone()
                count = c.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
                assert row is not None
                assert count is not None
                heap, index, total = (v / (ROOMS * MINUTES) for v in row)
                print(
                    f"{table}: {count[0]} rows, {row[2] / count[0]:.1f} B/row; per capture: "
                    f"heap {heap:.2f} + index {index:.2f} = {total:.2f} B"
                )
            version = c.execute("SHOW server_version").fetchone()
            print("PostgreSQL", version[0] if version else "?")


if __name__ == "__main__":
    main("--key-order" in sys.argv)
