"""A throwaway Citus cluster on loopback: a coordinator and two workers, for `make citus-test`.

tests/postgres_provider.py starts it when TEST_CITUS_BINDIR names the bin directory of a
PostgreSQL with the Citus extension installed (`make citus-test` builds Citus from CITUS_SRC into
Debian's PostgreSQL 15 and sets it). Each node is an EmbeddedPostgres on that bin directory: the
same non-root account, data directories and free ports as the embedded server, plus
`shared_preload_libraries = 'citus'`. One database is created on every node with the extension;
the coordinator registers itself and adds the workers. Migrations (0005 and later) then
distribute the tables, exactly as on a production cluster.

No pytest import here, so the benchmark can use it too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from roomtemp.embedded import EmbeddedPostgres

LOGGER = logging.getLogger(__name__)

WORKERS = 2
#: Shards per distributed table. Citus' default is 32; 4 (2 per worker) still spreads every
#: table over both workers, so multi-shard plans and cross-worker statements are exercised,
#: while the per-test TRUNCATE of every fact table and each new partition touch 8x fewer shards.
SHARD_COUNT = 4

_NODE_SETTINGS = {
    # Durability is pointless for a cluster thrown away after the run.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_preload_libraries": "citus",
    # A multi-shard statement opens connections to every worker; the suite's pools and the
    # workers' connections back to each other need more than the default 100.
    "max_connections": "300",
    "citus.shard_count": str(SHARD_COUNT),
}


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _port(url: str) -> int:
    port = make_url(url).port
    assert port is not None
    return port


@contextlib.contextmanager
def citus_cluster(
    bin_dir: Path, database: str = "roomtemp_test", settings: dict[str, str] | None = None
) -> Iterator[str]:
    """Start the cluster; yield the SQLAlchemy URL of `database` on the coordinator.
    `settings` override the nodes' defaults (the benchmark restores durability with them)."""
    began = time.monotonic()
    # Under the system temp dir: as root the nodes run as the embedded server's account,
    # which must traverse to its data directory (see tests/postgres_provider.py).
    base = Path(tempfile.mkdtemp(prefix="roomtemp-citus-"))
    try:
        base.chmod(0o711)
        with contextlib.ExitStack() as nodes:
            urls = [
                nodes.enter_context(
                    EmbeddedPostgres(
                        base / name,
                        database=database,
                        server_settings={**_NODE_SETTINGS, **(settings or {})},
                        bin_dir=bin_dir,
                    )
                )
                for name in ["coordinator", *(f"worker{n}" for n in range(1, WORKERS + 1))]
            ]
            _join(urls)
            LOGGER.info(
                "Citus cluster up in %.1f s: coordinator %d, workers %s",
                time.monotonic() - began,
                _port(urls[0]),
                [_port(u) for u in urls[1:]],
            )
            yield urls[0]
    finally:
        _keep_logs(base)
        shutil.rmtree(base, ignore_errors=True)


def _keep_logs(base: Path) -> None:
    """Copy each node's server.log to CITUS_LOG_DIR, if set: the statements Citus refused are
    there (with their DETAIL), not in the client's exception (make citus-test sets it)."""
    target = os.environ.get("CITUS_LOG_DIR", "").strip()
    if not target:
        return
    Path(target).mkdir(parents=True, exist_ok=True)
    for log in base.glob("*/server.log"):
        shutil.copyfile(log, Path(target) / f"{log.parent.name}.log")


def _join(urls: list[str]) -> None:
    """The extension on every node, one superuser password everywhere, the workers added."""
    # Nodes connect to each other as `postgres` with password authentication: one password on
    # every node, known to Citus through pg_dist_authinfo (not propagated: set on each node).
    password = make_url(urls[0]).password or secrets.token_urlsafe(24)
    for url in urls:
        with psycopg.connect(_conninfo(url), autocommit=True, connect_timeout=10) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
            if url is not urls[0]:
                conn.execute(
                    psycopg.sql.SQL("ALTER ROLE postgres PASSWORD {}").format(
                        psycopg.sql.Literal(password)
                    )
                )
            conn.execute(
                "INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo) "
                "VALUES (0, 'postgres', %s)",
                (f"password={password}",),
            )
    with psycopg.connect(_conninfo(urls[0]), autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT citus_set_coordinator_host('127.0.0.1', %s)", (_port(urls[0]),))
        for url in urls[1:]:
            conn.execute("SELECT citus_add_node('127.0.0.1', %s)", (_port(url),))
