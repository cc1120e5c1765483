"""EXPLAIN of the read statements on a 3-node Citus cluster: router (one task) or pushdown.

Starts the cluster of tests/citus_cluster.py (Citus installed into PostgreSQL 15 by
`make citus-test`), migrates it (0005 and later distribute the tables), loads a small building
(ROOMS rooms, a capture a minute for a day, rollups rebuilt) and saves, for the latest average,
the raw series and the building overview, EXPLAIN (ANALYZE) as Citus plans it, or the error
Citus answers. bench/results/citus-<stamp>-explain.md.

    PYTHONPATH=. .venv/bin/python -m bench.citus_explain
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from roomtemp.average import overview_queries
from roomtemp.average import queries as avg
from roomtemp.db import migrate
from roomtemp.db.driver import psycopg_sql
from tests.citus_cluster import SHARD_COUNT, WORKERS, citus_cluster
from tests.postgres_provider import libpq_conninfo, sqlalchemy_url

ROOT = Path(__file__).resolve().parent.parent
ROOMS = 100
END = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

_SEED = """
INSERT INTO building (key, name) VALUES ('hq', 'HQ');
INSERT INTO room (building_id, key, name) SELECT b.id, 'r' || g, 'Room ' || g
  FROM building b, generate_series(1, %(rooms)s) g;
INSERT INTO sensor (sensor_type_id, default_room_id) SELECT 1, id FROM room;
INSERT INTO sensor_assignment (sensor_id, valid_from, room_id)
  SELECT id, '-infinity', default_room_id FROM sensor;
INSERT INTO room_sensor (room_id, sensor_id) SELECT room_id, sensor_id FROM sensor_assignment;
INSERT INTO capture (ts, value, room_id, sensor_id)
  SELECT %(end)s - interval '1 minute' * m, 293 + random(), s.default_room_id, s.id
  FROM sensor s, generate_series(0, 1439) m;
"""


def _explain(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any]) -> str:
    try:
        rows = conn.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, params).fetchall()
    except psycopg.Error as exc:
        conn.rollback()
        return f"ERROR: {exc}".strip()
    conn.rollback()
    return "\n".join(r[0] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", type=Path, default=Path("/usr/lib/postgresql/15/bin"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    with citus_cluster(args.bin) as url:
        migrate.upgrade(url)
        with psycopg.connect(libpq_conninfo(sqlalchemy_url(url))) as conn:
            for statement in _SEED.strip().split(";\n"):
                conn.execute(statement.rstrip(";"), {"rooms": ROOMS, "end": END})
            conn.commit()
            version = conn.execute("SELECT citus_version()").fetchone()
            room = {"room_id": 7, "sensor_type_id": 1}
            window = {"start": END - timedelta(minutes=15), "end": END}
            statements: dict[str, tuple[Any, dict[str, Any]]] = {
                "latest average: keys resolved first (reference tables)": (
                    avg._ROOM_KEYS,
                    {"building": "hq", "room": "r7", "sensor_type": "temperature"},
                ),
                "latest average: the window by ids": (avg._WINDOW, {**room, **window}),
                "series, raw, 24 h at 15 min": (
                    avg.ROOM_SERIES.raw,
                    {
                        **room,
                        "sensor_id": None,
                        "first": END - timedelta(hours=24),
                        "last": END,
                        "step": timedelta(minutes=15),
                        "window": timedelta(minutes=15),
                    },
                ),
                "building overview": (
                    overview_queries._OVERVIEW,
                    {"building_id": 1, "sensor_type_id": 1, **window},
                ),
            }
            parts = [
                f"# Citus EXPLAIN {stamp}\n",
                f"{version[0] if version else '?'}; a coordinator and {WORKERS} workers on "
                f"loopback, {SHARD_COUNT} shards per distributed table; {ROOMS} rooms x 1,440 "
                "captures (`python -m bench.citus_explain`). `Task Count: 1` is a router "
                "query (one shard).\n",
            ]
            for title, (stmt, params) in statements.items():
                plan = _explain(conn, psycopg_sql(stmt), params)
                parts.append(f"## {title}\n\n```\n{plan}\n```\n")
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"citus-{stamp}-explain.md"
    target.write_text("\n".join(parts))
    print(target)


if __name__ == "__main__":
    main()
